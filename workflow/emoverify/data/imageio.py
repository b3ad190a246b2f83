"""Read any image file as an RGB uint8 array, recognising the format by content.

Real datasets mix palette-mode TIFFs (JAFFE), GIFs without an extension, 16-bit
and 32-bit grayscale, RGBA and grayscale images. ``read_rgb`` turns all of them
into ``H x W x 3`` uint8 arrays:

- the format comes from the file's bytes (Pillow), never from its extension;
- multi-frame files (animated GIF, multi-page TIFF): the first frame;
- EXIF orientation is applied;
- transparency (RGBA, LA, palette with transparency) is composited on white;
- 16-bit grayscale is scaled by 255/65535; 32-bit integer or float grayscale
  is kept when it lies in 0..255, scaled by 255/65535 when it lies in 0..65535,
  and stretched from its minimum to its maximum otherwise.

Anything that cannot be decoded raises ``UnreadableImageError`` with the reason.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
_WIDE_MODES = ("I", "F")
_TRANSPARENT_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


class UnreadableImageError(ValueError):
    """A file that cannot be decoded as an image; ``reason`` says why."""

    def __init__(self, path: str | Path, reason: str):
        super().__init__(f"cannot read image {str(path)!r}: {reason}")
        self.path = str(path)
        self.reason = reason


def read_rgb(path: str | Path) -> np.ndarray:
    """Decode ``path`` into an ``H x W x 3`` uint8 RGB array (see the module docstring)."""
    path = Path(path)
    if not path.exists():
        raise UnreadableImageError(path, "file not found")
    if not path.is_file():
        raise UnreadableImageError(path, "not a regular file")
    try:
        with Image.open(path) as image:
            image.load()
            return to_rgb_array(image)
    except UnidentifiedImageError:
        raise UnreadableImageError(path, "not a recognised image format") from None
    except Image.DecompressionBombError as error:
        raise UnreadableImageError(path, f"image too large ({error})") from None
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise UnreadableImageError(path, f"corrupt or truncated image ({type(error).__name__}: {error})") from None


def to_rgb_array(image: Image.Image) -> np.ndarray:
    """Convert an opened PIL image of any mode to an ``H x W x 3`` uint8 RGB array."""
    image = ImageOps.exif_transpose(image)
    if image.mode in _SIXTEEN_BIT_MODES:
        return _gray_to_rgb(_scale_to_uint8(np.asarray(image).astype(np.float64), 65535.0))
    if image.mode in _WIDE_MODES:
        return _gray_to_rgb(_wide_gray_to_uint8(np.asarray(image).astype(np.float64)))
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in _TRANSPARENT_MODES:
        return _composite_on_white(image.convert("RGBA"))
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def _wide_gray_to_uint8(values: np.ndarray) -> np.ndarray:
    if values.size == 0 or not np.isfinite(values).all():
        raise ValueError("grayscale data is empty or contains NaN/infinite values")
    low, high = values.min(), values.max()
    if low >= 0 and high <= 255:
        return _scale_to_uint8(values, 255.0)
    if low >= 0 and high <= 65535:
        return _scale_to_uint8(values, 65535.0)
    return _scale_to_uint8(values - low, high - low)


def _scale_to_uint8(values: np.ndarray, full_scale: float) -> np.ndarray:
    return np.clip(np.rint(values * (255.0 / full_scale)), 0, 255).astype(np.uint8)


def _gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[:, :, None], 3, axis=2)


def _composite_on_white(rgba: Image.Image) -> np.ndarray:
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"), dtype=np.uint8).copy()
