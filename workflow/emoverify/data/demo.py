"""The built-in synthetic demo dataset: drawn faces that MTCNN detects.

Each identity has its own proportions and colours (skin, hair and hair style,
iris, face width and length, eye spacing and size, nose length, mouth width,
brow thickness); each expression moves the mouth (curve, openness, width), the
brows (height, slant) and the eyelids. Every image adds jitter in position,
scale, rotation, lighting and pixel noise. The same seed always gives the same
pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFilter

from emoverify.data.adapters import LABELS_FILE
from emoverify.vocabulary import canonical_expression

DEFAULT_EXPRESSIONS = ("anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise")
_SUPERSAMPLE = 2

_SKIN_TONES = ((255, 224, 196), (241, 194, 160), (224, 172, 130), (198, 134, 96), (161, 102, 68), (120, 78, 52))
_HAIR_COLOURS = ((30, 22, 18), (70, 45, 25), (120, 80, 40), (200, 160, 90), (160, 60, 30), (110, 110, 110))
_IRIS_COLOURS = ((60, 40, 25), (40, 80, 140), (60, 110, 60), (90, 70, 40))
_SHIRT_COLOURS = ((40, 60, 120), (120, 30, 40), (40, 100, 60), (90, 90, 90), (200, 170, 60))


@dataclass(frozen=True)
class Identity:
    """What makes one synthetic person recognisable."""

    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    iris: tuple[int, int, int]
    shirt: tuple[int, int, int]
    long_hair: bool
    face_width: float  # half-width / half-height of the head ellipse
    face_length: float  # head half-height relative to the canvas
    eye_spacing: float  # eye centre distance from the midline, in head half-widths
    eye_height: float  # eye line, in head half-heights above the centre
    eye_size: float
    nose_length: float
    mouth_width: float
    brow_thickness: float


@dataclass(frozen=True)
class Expression:
    """Facial configuration of one expression (face units; positive curve = corners up)."""

    mouth_curve: float
    mouth_open: float
    mouth_width: float
    brow_raise: float
    brow_slant: float  # positive: inner ends lower (frown); negative: inner ends raised
    eye_open: float
    smirk: float = 0.0  # one-sided corner raise (contempt)


EXPRESSION_SHAPES: dict[str, Expression] = {
    "anger": Expression(
        mouth_curve=-0.04, mouth_open=0.0, mouth_width=0.85, brow_raise=-0.05, brow_slant=0.09, eye_open=0.75
    ),
    "contempt": Expression(
        mouth_curve=0.0, mouth_open=0.0, mouth_width=0.95, brow_raise=0.0, brow_slant=0.02, eye_open=0.9, smirk=0.07
    ),
    "disgust": Expression(
        mouth_curve=-0.07, mouth_open=0.05, mouth_width=0.9, brow_raise=-0.04, brow_slant=0.06, eye_open=0.6
    ),
    "fear": Expression(
        mouth_curve=-0.02, mouth_open=0.1, mouth_width=1.1, brow_raise=0.07, brow_slant=-0.05, eye_open=1.2
    ),
    "happiness": Expression(
        mouth_curve=0.12, mouth_open=0.06, mouth_width=1.2, brow_raise=0.02, brow_slant=0.0, eye_open=0.8
    ),
    "neutral": Expression(
        mouth_curve=0.0, mouth_open=0.0, mouth_width=1.0, brow_raise=0.0, brow_slant=0.0, eye_open=1.0
    ),
    "sadness": Expression(
        mouth_curve=-0.09, mouth_open=0.0, mouth_width=0.9, brow_raise=0.02, brow_slant=-0.08, eye_open=0.8
    ),
    "surprise": Expression(
        mouth_curve=0.0, mouth_open=0.13, mouth_width=0.75, brow_raise=0.07, brow_slant=-0.01, eye_open=1.15
    ),
}


def generate_demo(
    out_dir: str | Path,
    *,
    n_identities: int = 12,
    images_per_expression: int = 3,
    expressions: tuple[str, ...] = DEFAULT_EXPRESSIONS,
    image_size: int = 160,
    seed: int = 0,
) -> pd.DataFrame:
    """Draw the demo dataset into ``out_dir`` and write ``out_dir/labels.csv``.

    Images go to ``out_dir/images/<identity>/<expression>_<k>.png``. Returns the
    label table as written (columns path, identity, emotion, session; paths
    relative to ``out_dir``). Deterministic for a given seed and arguments.
    """
    expressions = _validated_expressions(expressions)
    if n_identities < 1 or images_per_expression < 1:
        raise ValueError("n_identities and images_per_expression must be at least 1")
    if image_size < 64:
        raise ValueError(f"image_size must be at least 64 pixels for MTCNN to find the faces, got {image_size}")
    out_dir = Path(out_dir)
    rows = []
    for person in range(n_identities):
        identity = random_identity(np.random.default_rng((seed, 0, person)))
        name = f"id{person:02d}"
        (out_dir / "images" / name).mkdir(parents=True, exist_ok=True)
        for expression in expressions:
            for take in range(images_per_expression):
                rng = np.random.default_rng((seed, 1, person, EXPRESSION_ORDER[expression], take))
                relative = f"images/{name}/{expression}_{take}.png"
                draw_face(identity, EXPRESSION_SHAPES[expression], image_size, rng).save(out_dir / relative)
                rows.append({"path": relative, "identity": name, "emotion": expression, "session": ""})
    table = pd.DataFrame(rows, columns=["path", "identity", "emotion", "session"])
    table.to_csv(out_dir / LABELS_FILE, index=False)
    return table


EXPRESSION_ORDER = {name: index for index, name in enumerate(EXPRESSION_SHAPES)}


def _validated_expressions(expressions) -> tuple[str, ...]:
    if isinstance(expressions, str) or not expressions:
        raise ValueError("expressions must be a non-empty list of expression names")
    names = tuple(canonical_expression(name) for name in expressions)
    if "" in names or len(set(names)) != len(names):
        raise ValueError(f"expressions must be distinct, non-empty names; got {list(expressions)}")
    return names


def random_identity(rng: np.random.Generator) -> Identity:
    """Draw one person's appearance."""
    skin = _pick(rng, _SKIN_TONES)
    return Identity(
        skin=skin,
        hair=_contrasting_hair(_pick(rng, _HAIR_COLOURS), skin),
        iris=_pick(rng, _IRIS_COLOURS),
        shirt=_pick(rng, _SHIRT_COLOURS),
        long_hair=bool(rng.random() < 0.5),
        face_width=float(rng.uniform(0.70, 0.86)),
        face_length=float(rng.uniform(0.27, 0.31)),
        eye_spacing=float(rng.uniform(0.32, 0.37)),
        eye_height=float(rng.uniform(0.08, 0.16)),
        eye_size=float(rng.uniform(0.15, 0.18)),
        nose_length=float(rng.uniform(0.18, 0.26)),
        mouth_width=float(rng.uniform(0.28, 0.38)),
        brow_thickness=float(rng.uniform(0.035, 0.06)),
    )


def _contrasting_hair(hair, skin):
    """Hair as bright as the skin hides the head outline (MTCNN then misses faces): darken it."""
    if abs(sum(hair) - sum(skin)) / 3 < 60:
        return _shade(hair, 0.3)
    return hair


def _pick(rng: np.random.Generator, options):
    base = np.array(options[rng.integers(len(options))], dtype=float)
    return tuple(int(v) for v in np.clip(base * rng.uniform(0.92, 1.08), 0, 255))


class _FaceFrame:
    """Maps face units (u right, v down; head ellipse = unit circle) to canvas pixels."""

    def __init__(self, centre, half_width, half_height, angle_deg):
        self.cx, self.cy = centre
        self.hw, self.hh = half_width, half_height
        self.cos, self.sin = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))

    def to_canvas(self, u, v):
        x, y = u * self.hw, v * self.hh
        return (self.cx + x * self.cos - y * self.sin, self.cy + x * self.sin + y * self.cos)

    def polygon(self, points):
        return [self.to_canvas(u, v) for u, v in points]

    def ellipse(self, cu, cv, ru, rv, n=40):
        angles = np.linspace(0, 2 * math.pi, n, endpoint=False)
        return self.polygon([(cu + ru * math.cos(a), cv + rv * math.sin(a)) for a in angles])


def draw_face(identity: Identity, expression: Expression, image_size: int, rng: np.random.Generator) -> Image.Image:
    """Render one face of ``identity`` showing ``expression`` with random jitter."""
    canvas_size = image_size * _SUPERSAMPLE
    background = tuple(int(v) for v in rng.uniform(150, 235, 3))
    image = Image.new("RGB", (canvas_size, canvas_size), background)
    draw = ImageDraw.Draw(image)
    half_height = canvas_size * identity.face_length * rng.uniform(0.9, 1.1)
    centre = (canvas_size * (0.5 + rng.uniform(-0.05, 0.05)), canvas_size * (0.48 + rng.uniform(-0.04, 0.04)))
    frame = _FaceFrame(centre, half_height * identity.face_width, half_height, rng.uniform(-8, 8))
    _draw_body_and_hair_back(draw, frame, identity)
    _draw_head(draw, frame, identity)
    _draw_eyes(draw, frame, identity, expression, rng)
    _draw_brows(draw, frame, identity, expression, rng)
    _draw_nose(draw, frame, identity)
    _draw_mouth(draw, frame, identity, expression, rng)
    image = image.resize((image_size, image_size), Image.Resampling.LANCZOS)
    return _add_lighting_and_noise(image, rng)


def _shade(colour, factor):
    return tuple(int(np.clip(c * factor, 0, 255)) for c in colour)


def _draw_body_and_hair_back(draw, frame, identity):
    draw.polygon(frame.ellipse(0, 2.35, 1.9, 1.0), fill=identity.shirt)
    draw.polygon(
        frame.polygon([(-0.38, 0.6), (0.38, 0.6), (0.42, 1.5), (-0.42, 1.5)]), fill=_shade(identity.skin, 0.85)
    )
    if identity.long_hair:
        draw.polygon(frame.polygon([(-1.1, -0.4), (1.1, -0.4), (1.12, 0.75), (-1.12, 0.75)]), fill=identity.hair)


def _draw_head(draw, frame, identity):
    for side in (-1, 1):
        draw.polygon(frame.ellipse(side * 0.98, 0.0, 0.14, 0.22), fill=_shade(identity.skin, 0.92))
    for step, scale in enumerate(np.linspace(1.0, 0.55, 6)):
        shade = 0.8 + 0.2 * step / 5  # darker towards the outline: a rounded look
        draw.polygon(frame.polygon(_head_outline(scale)), fill=_shade(identity.skin, shade))
    hair_top = [(1.04 * math.cos(a), -0.35 - 0.72 * math.sin(a)) for a in np.linspace(0, math.pi, 24)]
    fringe = [(-0.95, -0.3), (-0.5, -0.52), (0.0, -0.58), (0.5, -0.52), (0.95, -0.3)]
    draw.polygon(frame.polygon(hair_top + fringe), fill=identity.hair)
    for side in (-1, 1):  # temples: a hairline down the sides frames the face like real hair
        temple = [(side * 1.03, -0.36), (side * 0.8, -0.42), (side * 0.86, -0.12), (side * 1.0, -0.02)]
        draw.polygon(frame.polygon(temple), fill=identity.hair)


def _head_outline(scale: float, n: int = 64):
    """Egg-shaped head: full width at the cheekbones, narrowing to the chin."""
    points = []
    for angle in np.linspace(0, 2 * math.pi, n, endpoint=False):
        u, v = math.cos(angle), math.sin(angle)
        taper = 1.0 - 0.22 * max(v, 0.0) ** 2
        points.append((scale * u * taper, scale * v + (1 - scale) * 0.1))
    return points


def _draw_eyes(draw, frame, identity, expression, rng):
    eye_open = expression.eye_open * rng.uniform(0.92, 1.08)
    ru = identity.eye_size
    rv = ru * 0.55 * eye_open * frame.hw / frame.hh
    for side in (-1, 1):
        cu, cv = side * identity.eye_spacing, -identity.eye_height
        draw.polygon(frame.ellipse(cu, cv - 0.03, ru * 1.45, 0.13), fill=_shade(identity.skin, 0.85))
        draw.polygon(frame.ellipse(cu, cv, ru, rv), fill=(235, 232, 225))
        iris_v = min(rv, ru * 0.6 * frame.hw / frame.hh)
        draw.polygon(frame.ellipse(cu, cv, ru * 0.55, iris_v), fill=_shade(identity.iris, 0.7))
        draw.polygon(frame.ellipse(cu, cv, ru * 0.25, iris_v * 0.5), fill=(10, 10, 10))
        lid = frame.ellipse(cu, cv, ru, rv)
        draw.line(lid[20:] + lid[:1], fill=(30, 20, 20), width=3)


def _brow_colour(identity):
    """Brows darker than both hair and skin, so blond or grey hair still gives visible brows."""
    return tuple(int(min(h * 0.7, s * 0.45)) for h, s in zip(identity.hair, identity.skin))


def _draw_brows(draw, frame, identity, expression, rng):
    raise_ = expression.brow_raise + rng.normal(0, 0.01)
    thickness = identity.brow_thickness
    for side in (-1, 1):
        inner_u, outer_u = side * (identity.eye_spacing - 0.2), side * (identity.eye_spacing + 0.22)
        base_v = -identity.eye_height - 0.17 - raise_
        inner_v, outer_v = base_v + expression.brow_slant, base_v - expression.brow_slant * 0.3
        mid_v = (inner_v + outer_v) / 2 - 0.03
        upper = [(inner_u, inner_v), ((inner_u + outer_u) / 2, mid_v), (outer_u, outer_v)]
        lower = [(u, v + thickness) for u, v in reversed(upper)]
        draw.polygon(frame.polygon(upper + lower), fill=_brow_colour(identity))


def _draw_nose(draw, frame, identity):
    top_v = -identity.eye_height + 0.06
    tip_v = top_v + identity.nose_length + 0.1
    for side in (-1, 1):  # shadows beside the bridge, a lit ridge between them
        flank = [(side * 0.05, top_v), (side * 0.11, tip_v - 0.04), (side * 0.04, tip_v - 0.02)]
        draw.polygon(frame.polygon(flank), fill=_shade(identity.skin, 0.78))
    draw.polygon(frame.ellipse(0, tip_v - 0.02, 0.13, 0.06), fill=_shade(identity.skin, 0.9))
    draw.polygon(frame.ellipse(0, tip_v - 0.04, 0.06, 0.04), fill=_shade(identity.skin, 1.08))
    for side in (-1, 1):
        draw.polygon(frame.ellipse(side * 0.065, tip_v + 0.01, 0.04, 0.022), fill=_shade(identity.skin, 0.4))


def _draw_mouth(draw, frame, identity, expression, rng):
    centre_v = 0.5 + rng.normal(0, 0.01)
    half = identity.mouth_width * expression.mouth_width
    curve = expression.mouth_curve + rng.normal(0, 0.008)
    opening = max(0.0, expression.mouth_open + rng.normal(0, 0.008))
    us = np.linspace(-half, half, 21)
    bend = curve * ((us / half) ** 2)  # corners move up (negative v) for a positive curve
    smirk = expression.smirk * np.clip(us / half, 0, None) ** 2
    upper = [(u, centre_v - b - s - opening * 0.35 * (1 - (u / half) ** 2)) for u, b, s in zip(us, bend, smirk)]
    lower = [(u, centre_v - b - s + (opening + 0.035) * (1 - (u / half) ** 2)) for u, b, s in zip(us, bend, smirk)]
    lip = _shade((200, 90, 90), 0.6 + 0.4 * identity.skin[0] / 255)
    draw.polygon(frame.polygon(upper + lower[::-1]), fill=lip)
    if opening > 0.02:
        inner_upper = [(u, v + 0.025) for u, v in upper[2:-2]]
        inner_lower = [(u, v - 0.03) for u, v in lower[2:-2]]
        draw.polygon(frame.polygon(inner_upper + inner_lower[::-1]), fill=(60, 20, 25))
    else:
        draw.line(frame.polygon(upper), fill=_shade(lip, 0.5), width=2)


def _add_lighting_and_noise(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    pixels = np.asarray(image.filter(ImageFilter.GaussianBlur(rng.uniform(0.0, 0.8))), dtype=np.float64)
    size = pixels.shape[0]
    direction = rng.uniform(0, 2 * math.pi)
    ramp = np.linspace(-1, 1, size)
    gradient = np.cos(direction) * ramp[None, :] + np.sin(direction) * ramp[:, None]
    gain = rng.uniform(0.88, 1.1) + rng.uniform(0.0, 0.15) * gradient
    pixels = pixels * gain[:, :, None] + rng.normal(0, rng.uniform(2, 7), pixels.shape)
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))
