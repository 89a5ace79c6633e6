"""Synthetic scenes for the tiny trained PaliGemma: shapes, colors, boxes.

A scene has one to three shapes (circle, square, triangle) in six colors, on
a low-saturation background with pixel noise, at a random size and aspect
ratio. Each scene comes with prompts and answers in PaliGemma's task style:

    caption en                               -> "red circle ; blue square"   (left to right)
    detect circle                            -> "<loc0123><loc0045><loc0400><loc0388> circle"
    answer en what color is the square?      -> "blue"

Boxes are y_min, x_min, y_max, x_max on the 0..1023 grid of the whole image,
as PaliGemma writes them: bin = round(coordinate / size * 1023)... clamped.
Everything is drawn with Pillow from a numpy Generator, so a seed fixes the set.
preprocess() is the model's input pipeline, the steps of
golden/processing_paligemma.py's siglip_preprocess (and of the C program) on an image in memory.
"""
from dataclasses import dataclass
from typing import List, Tuple

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle")
COLORS = {
    "red": (220, 30, 30),
    "green": (30, 170, 40),
    "blue": (30, 60, 220),
    "yellow": (235, 215, 25),
    "purple": (140, 40, 180),
    "orange": (245, 130, 20),
}


@dataclass
class SceneObject:
    shape: str
    color: str
    box: Tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels, x1 and y1 exclusive


@dataclass
class Scene:
    image: Image.Image
    objects: List[SceneObject]  # sorted left to right by box center


def location_token(value: float, size: int) -> str:
    """Return the <locNNNN> token of a coordinate in pixels along a side of `size` pixels."""
    bin_index = int(round(value / size * 1023))
    return "<loc%04d>" % min(1023, max(0, bin_index))


def draw_scene(rng: np.random.Generator, num_objects: int = 0) -> Scene:
    """Draw one scene: background, noise, then 1 to 3 shapes that do not overlap.

    num_objects > 0 fixes the number of shapes; the generator is advanced the
    same way either way, so a seed draws the same backgrounds and sizes.
    """
    width = int(rng.integers(48, 160))
    height = int(np.clip(width * rng.uniform(0.6, 1.6), 40, 200))
    background = tuple(int(v) for v in rng.integers(60, 200) + rng.integers(-25, 26, size=3))
    image = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(image)

    objects: List[SceneObject] = []
    wanted = int(rng.integers(1, 4))
    if num_objects > 0:
        wanted = num_objects
    for _ in range(60):
        if len(objects) == wanted:
            break
        side = rng.uniform(0.28, 0.45) * min(width, height)
        x0 = rng.uniform(0, width - side)
        y0 = rng.uniform(0, height - side)
        box = (x0, y0, x0 + side, y0 + side)
        # Keep a gap between boxes and distinct centers, so "left to right" is well defined.
        center = x0 + side / 2
        if any(not (box[2] + 2 < o.box[0] or o.box[2] + 2 < box[0] or box[3] + 2 < o.box[1] or o.box[3] + 2 < box[1])
               or abs(center - (o.box[0] + o.box[2]) / 2) < 4 for o in objects):
            continue
        objects.append(SceneObject(str(rng.choice(SHAPES)), str(rng.choice(list(COLORS))), box))

    for obj in objects:
        # Each object's shade varies a little around its color, so that other
        # programs' "red" or "blue" still reads as that color.
        fill = tuple(int(np.clip(v + rng.integers(-20, 21), 0, 255)) for v in COLORS[obj.color])
        x0, y0, x1, y1 = obj.box
        if obj.shape == "circle":
            draw.ellipse([x0, y0, x1 - 1, y1 - 1], fill=fill)
        elif obj.shape == "square":
            draw.rectangle([x0, y0, x1 - 1, y1 - 1], fill=fill)
        else:
            draw.polygon([((x0 + x1) / 2, y0), (x1 - 1, y1 - 1), (x0, y1 - 1)], fill=fill)

    # Pixel noise, so that the model cannot rely on flat colors.
    pixels = np.asarray(image).astype(np.int16)
    pixels += rng.integers(-12, 13, size=pixels.shape, dtype=np.int16)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    objects.sort(key=lambda o: (o.box[0] + o.box[2]) / 2)
    return Scene(image, objects)


def caption(scene: Scene) -> str:
    return " ; ".join(f"{o.color} {o.shape}" for o in scene.objects)


def detection(scene: Scene, shape: str) -> str:
    width, height = scene.image.size
    parts = []
    for o in scene.objects:
        if o.shape == shape:
            x0, y0, x1, y1 = o.box
            locs = (location_token(y0, height) + location_token(x0, width)
                    + location_token(y1, height) + location_token(x1, width))
            parts.append(f"{locs} {shape}")
    return " ; ".join(parts)


def tasks(scene: Scene, with_absent: bool = False) -> List[Tuple[str, str, str]]:
    """Return (kind, prompt, answer) triples: a caption, detections, color questions.

    kind is "caption", "detect" or "color". A color question is asked only
    about a shape that occurs once. with_absent adds "detect" for the shapes
    that are not in the scene, whose answer is empty.
    """
    triples = [("caption", "caption en", caption(scene))]
    present = sorted({o.shape for o in scene.objects})
    for shape in SHAPES:
        if shape in present or with_absent:
            triples.append(("detect", f"detect {shape}", detection(scene, shape)))
    for shape in present:
        same = [o for o in scene.objects if o.shape == shape]
        if len(same) == 1:
            triples.append(("color", f"answer en what color is the {shape}?", same[0].color))
    return triples


def preprocess(image: Image.Image, size: int) -> np.ndarray:
    """Return the [3, size, size] float32 pixel values: bicubic resize, rescale, normalize."""
    resized = np.asarray(image.convert("RGB").resize((size, size), Image.BICUBIC))
    rescaled = (resized.astype(np.float64) * (1 / 255)).astype(np.float32)
    half = np.array([0.5, 0.5, 0.5], dtype=np.float32)
    return ((rescaled - half) / half).transpose(2, 0, 1)
