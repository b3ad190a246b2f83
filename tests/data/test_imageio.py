"""Images are read by content into RGB uint8, whatever their mode, extension or bit depth."""

import numpy as np
import pytest
from PIL import Image

from emoverify.data.imageio import UnreadableImageError, read_rgb


def gradient_rgb(height=24, width=32) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 7 % 256, y * 9 % 256, (x + y) * 3 % 256], axis=2).astype(np.uint8)


def test_rgb_png_is_returned_unchanged(tmp_path):
    pixels = gradient_rgb()
    Image.fromarray(pixels).save(tmp_path / "a.png")
    result = read_rgb(tmp_path / "a.png")
    assert result.dtype == np.uint8 and result.shape == (24, 32, 3)
    np.testing.assert_array_equal(result, pixels)


def test_grayscale_becomes_three_equal_channels(tmp_path):
    gray = gradient_rgb()[:, :, 0]
    Image.fromarray(gray, mode="L").save(tmp_path / "g.png")
    result = read_rgb(tmp_path / "g.png")
    for channel in range(3):
        np.testing.assert_array_equal(result[:, :, channel], gray)


def test_palette_tiff_is_expanded_through_its_palette(tmp_path):
    palette_image = Image.fromarray(gradient_rgb()).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    palette_image.save(tmp_path / "p.tiff")
    assert Image.open(tmp_path / "p.tiff").mode == "P"
    np.testing.assert_array_equal(read_rgb(tmp_path / "p.tiff"), np.asarray(palette_image.convert("RGB")))


def test_jaffe_palette_tiff(jaffe_root):
    path = jaffe_root / "KA.AN1.39.tiff"
    with Image.open(path) as original:
        assert original.mode == "P"
        expected = np.asarray(original.convert("RGB"))
    result = read_rgb(path)
    assert result.shape == (256, 256, 3)
    np.testing.assert_array_equal(result, expected)


def test_extensionless_gif_is_recognised_by_content(tmp_path):
    pixels = gradient_rgb()
    Image.fromarray(pixels).convert("P", palette=Image.Palette.ADAPTIVE, colors=256).save(
        tmp_path / "face", format="GIF"
    )
    result = read_rgb(tmp_path / "face")
    assert result.shape == (24, 32, 3)
    assert np.abs(result.astype(int) - pixels).mean() < 8  # GIF quantisation only


def test_a_png_named_jpg_is_read_as_png(tmp_path):
    pixels = gradient_rgb()
    Image.fromarray(pixels).save(tmp_path / "wrong.jpg", format="PNG")
    np.testing.assert_array_equal(read_rgb(tmp_path / "wrong.jpg"), pixels)  # lossless: not decoded as JPEG


def test_sixteen_bit_grayscale_is_scaled_to_eight_bits(tmp_path):
    values = np.array([[0, 257, 32768, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I;16")
    result = read_rgb(tmp_path / "deep.png")
    np.testing.assert_array_equal(result[0, :, 0], [0, 1, 128, 255])
    np.testing.assert_array_equal(result[:, :, 0], result[:, :, 2])


def test_sixteen_bit_dark_image_is_not_clipped_to_white(tmp_path):
    values = np.full((4, 4), 1000, dtype=np.uint16)  # Pillow's own convert("L") would clip this to 255
    Image.fromarray(values).save(tmp_path / "dark.tiff")
    assert read_rgb(tmp_path / "dark.tiff").max() == 4


def test_thirty_two_bit_grayscale_beyond_sixteen_bits_is_stretched(tmp_path):
    values = np.array([[-100000, 0, 100000]], dtype=np.int32)
    Image.fromarray(values, mode="I").save(tmp_path / "wide.tiff")
    np.testing.assert_array_equal(read_rgb(tmp_path / "wide.tiff")[0, :, 1], [0, 128, 255])


def test_rgba_is_composited_on_white(tmp_path):
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[0, 0] = (200, 10, 10, 255)  # opaque: kept
    rgba[0, 1] = (0, 0, 0, 0)  # transparent: white
    rgba[1, 0] = (0, 0, 0, 128)  # half: grey
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "alpha.png")
    result = read_rgb(tmp_path / "alpha.png")
    np.testing.assert_array_equal(result[0, 0], (200, 10, 10))
    np.testing.assert_array_equal(result[0, 1], (255, 255, 255))
    assert 120 <= result[1, 0, 0] <= 135


def test_palette_with_transparency_is_composited(tmp_path):
    image = Image.new("P", (2, 1))
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.putpixel((0, 0), 0)
    image.putpixel((1, 0), 1)
    image.info["transparency"] = 0
    image.save(tmp_path / "t.gif", transparency=0)
    result = read_rgb(tmp_path / "t.gif")
    np.testing.assert_array_equal(result[0], [(255, 255, 255), (255, 0, 0)])


def test_multi_frame_gif_gives_the_first_frame(tmp_path):
    frames = [Image.new("RGB", (4, 4), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    assert tuple(read_rgb(tmp_path / "anim.gif")[0, 0]) == (255, 0, 0)


def test_exif_orientation_is_applied(tmp_path):
    image = Image.fromarray(gradient_rgb(height=10, width=30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    image.save(tmp_path / "rotated.jpg", exif=exif)
    assert read_rgb(tmp_path / "rotated.jpg").shape == (30, 10, 3)


def test_truncated_file_is_unreadable_with_a_reason(tmp_path):
    Image.fromarray(gradient_rgb(200, 200)).save(tmp_path / "full.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "full.png").read_bytes()[:300])
    with pytest.raises(UnreadableImageError, match="corrupt or truncated") as caught:
        read_rgb(tmp_path / "cut.png")
    assert caught.value.path.endswith("cut.png")


def test_text_file_is_not_an_image(tmp_path):
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(UnreadableImageError, match="not a recognised image format"):
        read_rgb(tmp_path / "notes.png")


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(UnreadableImageError) as missing:
        read_rgb(tmp_path / "absent.png")
    assert missing.value.reason == "file not found"
    with pytest.raises(UnreadableImageError, match="not a regular file"):
        read_rgb(tmp_path)
