"""Golden data for chapter 13, image preprocessing.

Writes small image fixtures (PNG mostly, plus BMP, GIF, PNM and one JPEG)
into golden/13_image_preprocessing/, then runs the reference pipeline on
each with Pillow (Debian's python3-pil 9.4) and NumPy, the steps
transformers' SiglipImageProcessor takes on a PIL image:

    Image.open(path).convert("RGB")              -> <name>_rgb.npy      [H, W, 3] uint8
    .resize((S, S), Image.BICUBIC)               -> <name>_resized.npy  [S, S, 3] uint8
    astype(float64) * (1 / 255) -> float32, then (x - 0.5) / 0.5 in float32,
    transposed to channels first                 -> <name>_pixel_values.npy [3, S, S] float32

Most pixels are noise from a seeded NumPy generator, and every file is written
by code here, so running the script twice writes the same bytes.
"""
import io
import os
import struct
import zlib

import numpy as np
from PIL import Image

from golden_io import ChapterWriter
from processing_paligemma import siglip_preprocess

CHAPTER = "13_image_preprocessing"
SIZE = 32          # target size of the small cases
REAL_SIZE = 224    # paligemma-3b-pt-224
RNG_SEED = 13


def png_bytes(width: int, height: int, bit_depth: int, color_type: int, raw_rows: bytes) -> bytes:
    """Build a PNG file by hand, for what Pillow cannot save (16-bit RGB, huge headers)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    body = chunk(b"IHDR", header)
    if raw_rows:
        body += chunk(b"IDAT", zlib.compress(raw_rows, 9))
    return b"\x89PNG\r\n\x1a\n" + body + chunk(b"IEND", b"")


def make_fixtures(folder: str, rng: np.random.Generator) -> dict:
    """Write the image files; return {case name: (file name, target size)}."""
    cases = {}

    def noise(height: int, width: int, channels: int = 3) -> np.ndarray:
        shape = (height, width) if channels == 1 else (height, width, channels)
        return rng.integers(0, 256, size=shape, dtype=np.uint8)

    def save(name: str, image: Image.Image, extension: str = "png", size: int = SIZE, **options):
        file_name = f"{name}.{extension}"
        image.save(os.path.join(folder, file_name), **options)
        cases[name] = (file_name, size)

    # Non-square RGB noise: 37x23 shrinks in x and grows in y, 100x61
    # shrinks both, 7x11 grows both, 3x90 is tall and thin.
    save("noise_37x23", Image.fromarray(noise(23, 37)))
    save("noise_100x61", Image.fromarray(noise(61, 100)))
    save("noise_7x11", Image.fromarray(noise(11, 7)))
    save("tall_3x90", Image.fromarray(noise(90, 3)))
    save("one_pixel_1x1", Image.fromarray(noise(1, 1)))
    save("tiny_2x3", Image.fromarray(noise(3, 2)))

    # One-pixel checkerboard of 0 and 255: any filter without Pillow's
    # widened (antialiasing) kernel lands far from its near-flat gray.
    rows, columns = np.indices((47, 63))
    checker = np.where((rows + columns) % 2 == 0, 255, 0).astype(np.uint8)
    save("checkerboard_63x47", Image.fromarray(np.stack([checker] * 3, axis=-1)))

    # One dimension already at the target size: only one pass runs.
    save("same_height_50x32", Image.fromarray(noise(SIZE, 50)))
    save("same_width_32x50", Image.fromarray(noise(50, SIZE)))
    # Already at the target size: no resampling pass at all.
    save("same_size_32x32", Image.fromarray(noise(SIZE, SIZE)))

    # Other PNG color types; Pillow's convert("RGB") replicates gray and drops alpha.
    save("gray_40x30", Image.fromarray(noise(30, 40, 1), mode="L"))
    save("gray_alpha_30x40", Image.fromarray(noise(40, 30, 2), mode="LA"))
    save("rgba_45x27", Image.fromarray(noise(27, 45, 4), mode="RGBA"))
    save("bilevel_33x21", Image.fromarray(noise(21, 33, 1) >= 128))
    palette = noise(1, 256 * 3, 1).reshape(-1).tolist()
    indices = noise(20, 45, 1)
    paletted = Image.fromarray(indices, mode="P")
    paletted.putpalette(palette)
    save("palette_45x20", paletted)
    transparent = Image.fromarray(indices.T.copy(), mode="P")
    transparent.putpalette(palette)
    # Alpha for the first 64 palette entries (a tRNS chunk); the rest are opaque.
    save("palette_transparent_20x45", transparent, transparency=bytes(noise(1, 64, 1).reshape(-1)))
    four_bit = Image.fromarray(noise(17, 29, 1) % 16, mode="P")
    four_bit.putpalette(palette[:16 * 3])
    save("palette_4bit_29x17", four_bit, bits=4)

    # 16-bit RGB PNG (Pillow cannot write one): both Pillow and stb_image keep the high byte.
    samples = rng.integers(0, 65536, size=(19, 26, 3), dtype=np.uint16)
    raw = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in samples)
    with open(os.path.join(folder, "rgb16_26x19.png"), "wb") as f:
        f.write(png_bytes(26, 19, 16, 2, raw))
    cases["rgb16_26x19"] = ("rgb16_26x19.png", SIZE)
    samples = rng.integers(0, 65536, size=(7, 13, 2), dtype=np.uint16)
    raw = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in samples)
    with open(os.path.join(folder, "gray_alpha16_13x7.png"), "wb") as f:
        f.write(png_bytes(13, 7, 16, 4, raw))
    cases["gray_alpha16_13x7"] = ("gray_alpha16_13x7.png", SIZE)

    # 2-bit grayscale: both libraries scale a sample v to v * 85.
    samples = rng.integers(0, 4, size=(9, 12), dtype=np.uint8)
    packed = (samples[:, 0::4] << 6) | (samples[:, 1::4] << 4) | (samples[:, 2::4] << 2) | samples[:, 3::4]
    raw = b"".join(b"\x00" + row.tobytes() for row in packed)
    with open(os.path.join(folder, "gray2bit_12x9.png"), "wb") as f:
        f.write(png_bytes(12, 9, 2, 0, raw))
    cases["gray2bit_12x9"] = ("gray2bit_12x9.png", SIZE)

    # Other formats with exact RGB values.
    save("bmp_rgb_23x37", Image.fromarray(noise(37, 23)), "bmp")
    save("bmp_palette_31x18", paletted.resize((31, 18), Image.NEAREST), "bmp")
    save("ppm_25x39", Image.fromarray(noise(39, 25)), "ppm")
    save("pgm_39x25", Image.fromarray(noise(25, 39, 1), mode="L"), "pgm")
    save("gif_41x26", paletted.resize((41, 26), Image.NEAREST), "gif")

    # Real size: 300x200 -> 224. Smooth ramps plus noise keep the PNG small.
    y, x = np.indices((200, 300))
    ramps = np.stack([x * 255 // 299, y * 255 // 199, (x + y) * 255 // 498], axis=-1)
    real = np.clip(ramps + rng.integers(-12, 13, size=ramps.shape), 0, 255).astype(np.uint8)
    save("real_300x200", Image.fromarray(real), size=REAL_SIZE)

    # JPEG: stb_image and libjpeg decode differently, so the test compares with a tolerance.
    save("jpeg_64x48", Image.fromarray(real[:48, :64]).resize((64, 48), Image.BICUBIC), "jpg",
         quality=90, subsampling=0)
    return cases


def write_error_fixtures(folder: str, rng: np.random.Generator) -> None:
    """Files that the loader must reject."""
    # PNG headers declaring 100000 x 100000 pixels (which stb_image also
    # rejects) and 10000 x 10000 (which it would try to decode), with no pixel data.
    with open(os.path.join(folder, "huge_header.png"), "wb") as f:
        f.write(png_bytes(100000, 100000, 8, 2, b""))
    with open(os.path.join(folder, "large_header.png"), "wb") as f:
        f.write(png_bytes(10000, 10000, 8, 2, b""))
    # 16-bit grayscale: Pillow 9.4 clips the samples to 255 in convert("RGB").
    gray16 = rng.integers(0, 65536, size=(5, 7), dtype=np.uint16)
    Image.fromarray(gray16).save(os.path.join(folder, "gray16_7x5.png"))
    # A GIF whose palette entry 7 is transparent: stb_image makes those
    # pixels black, Pillow keeps the palette color. Every index is used once,
    # so that Pillow's writer keeps the palette order and the index.
    transparent_gif = Image.fromarray(rng.permutation(256).astype(np.uint8).reshape(16, 16), mode="P")
    transparent_gif.putpalette(rng.integers(0, 256, size=256 * 3, dtype=np.uint8).tolist())
    transparent_gif.save(os.path.join(folder, "transparent_16x16.gif"), transparency=7)
    # PNM with maxval 100 and 65535, which Pillow rescales and stb_image does not.
    with open(os.path.join(folder, "maxval_100.pgm"), "wb") as f:
        f.write(b"P5\n4 2\n100\n" + bytes(range(0, 80, 10)))
    samples = rng.integers(0, 65536, size=6, dtype=np.uint16).astype(">u2")
    with open(os.path.join(folder, "maxval_65535.ppm"), "wb") as f:
        f.write(b"P6\n# sixteen bits\n2 1\n65535\n" + samples.tobytes())


def generate() -> None:
    rng = np.random.default_rng(RNG_SEED)
    out = ChapterWriter(CHAPTER)
    cases = make_fixtures(out.folder, rng)
    write_error_fixtures(out.folder, rng)

    for name, (file_name, size) in cases.items():
        rgb, resized, pixel_values = siglip_preprocess(os.path.join(out.folder, file_name), size)
        if rgb.size <= 100 * 100 * 3:
            out.save(f"{name}_rgb", rgb, dtype=np.uint8)
        out.save(f"{name}_resized", resized, dtype=np.uint8)
        out.save(f"{name}_pixel_values", pixel_values)

    # bicubic_resize to a non-square size, so that swapped output sizes show.
    source = np.asarray(Image.open(os.path.join(out.folder, "noise_37x23.png")).convert("RGB"))
    out.save("noise_37x23_to_19x45", np.asarray(Image.fromarray(source).resize((19, 45), Image.BICUBIC)),
             dtype=np.uint8)

    # The rescale and normalize of every uint8 value: a [16, 16, 3] image of 0..255.
    every_value = np.repeat(np.arange(256, dtype=np.uint8).reshape(16, 16, 1), 3, axis=2)
    rescaled = (every_value.astype(np.float64) * (1 / 255)).astype(np.float32)
    half = np.array([0.5, 0.5, 0.5], dtype=np.float32)
    out.save("every_value_pixel_values", ((rescaled - half) / half).transpose(2, 0, 1))
