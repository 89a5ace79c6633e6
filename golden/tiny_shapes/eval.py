"""Evaluate the tiny-shapes model: the C program against the truth and against PyTorch.

Draws 300 scenes from a seed that training never uses, saves them as PNG in a
temporary folder, and asks each scene a caption, one detection and one color
question (when a shape occurs once). Each request runs twice: through
build/paligemma (the C program, reading the PNG) and through the PyTorch
reference (load_paligemma and generate_greedy on the same PNG, preprocessed by
golden/processing_paligemma.py's siglip_preprocess). Prints:

  - caption exact match, color accuracy, detection recall at IoU 0.5, for C and PyTorch;
  - C vs PyTorch: how many requests gave identical token ids, and for every
    disagreement both answers, the first step where they part and PyTorch's
    logit gap there (its top logit minus its logit of the C program's token).

    /usr/bin/python3 golden/tiny_shapes/eval.py [--model DIR] [--scenes N] [--other-programs]

--other-programs also draws scenes with ImageMagick (/usr/bin/convert) when
it is installed and reports the same metrics on them.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Tuple

import numpy as np
import sentencepiece as spm
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))  # golden/
sys.path.insert(0, HERE)

import scenes  # noqa: E402
from processing_paligemma import siglip_preprocess  # noqa: E402
from modeling_paligemma import generate_greedy, load_paligemma  # noqa: E402

EVAL_SEED = 2024   # training uses seed 1, its validation 999, the tokenizer corpus 7
MAX_TOKENS = 40
SHAPE_COLORS_MAGICK = {"red": "#dc1e1e", "green": "#1eaa28", "blue": "#1e3cdc", "yellow": "#ebd719",
                       "purple": "#8c28b4", "orange": "#f58214"}


# ---- answers ------------------------------------------------------------------

def parse_boxes(text: str) -> List[Tuple[str, Tuple[int, int, int, int]]]:
    """Return (label, (y_min, x_min, y_max, x_max) bins) for each "<loc..>x4 label" part of text."""
    boxes = []
    for part in text.split(";"):
        part = part.strip()
        bins = []
        while part.startswith("<loc") and len(part) >= 9 and part[4:8].isdigit() and part[8] == ">":
            bins.append(int(part[4:8]))
            part = part[9:]
        if len(bins) == 4:
            boxes.append((part.strip(), tuple(bins)))
    return boxes


def iou(a: Tuple[int, ...], b: Tuple[int, ...]) -> float:
    """Intersection over union of two (y_min, x_min, y_max, x_max) boxes."""
    height = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    width = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    intersection = height * width
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - intersection
    return intersection / union if union > 0 else 0.0


def detection_hits(truth: str, answer: str) -> Tuple[int, int]:
    """Return (reference boxes found at IoU >= 0.5 with the right label, reference boxes)."""
    references = parse_boxes(truth)
    predicted = parse_boxes(answer)
    used = set()
    hits = 0
    for label, box in references:
        best, best_iou = None, 0.5
        for i, (predicted_label, predicted_box) in enumerate(predicted):
            overlap = iou(box, predicted_box)
            if i not in used and predicted_label == label and overlap >= best_iou:
                best, best_iou = i, overlap
        if best is not None:
            used.add(best)
            hits += 1
    return hits, len(references)


# ---- the two implementations -----------------------------------------------------

def run_c(binary: str, model_dir: str, image: str, prompt: str) -> Tuple[str, List[int], float]:
    """Run build/paligemma; return its answer text, generated ids and wall time."""
    start = time.time()
    result = subprocess.run([binary, "--model", model_dir, "--image", image, "--prompt", prompt,
                             "--max-tokens", str(MAX_TOKENS), "--print-ids"],
                            capture_output=True, text=True, check=False)
    seconds = time.time() - start
    if result.returncode != 0:
        raise RuntimeError(f"{binary} failed on {image} '{prompt}': {result.stderr.strip()}")
    lines = result.stdout.rstrip("\n").split("\n")
    ids = [int(v) for v in lines[-1].split()] if lines[-1].strip() else []
    return "\n".join(lines[:-1]), ids, seconds


class Reference:
    """The PyTorch model and tokenizer, with the C program's request layout."""

    def __init__(self, model_dir: str) -> None:
        self.model, _ = load_paligemma(model_dir)
        self.tokenizer = spm.SentencePieceProcessor(model_file=os.path.join(model_dir, "tokenizer.model"))
        config = self.model.config
        self.image_size = config.vision_config.image_size
        self.prefix = [config.image_token_index] * config.vision_config.num_patches + [config.bos_token_id]
        self.newline = self.tokenizer.encode("\n")
        self.eos = config.eos_token_id

    def generate(self, image: str, prompt: str) -> Tuple[str, List[int], List[torch.Tensor]]:
        _, _, pixel_values = siglip_preprocess(image, self.image_size)
        input_ids = torch.tensor([self.prefix + self.tokenizer.encode(prompt) + self.newline])
        ids, step_logits = generate_greedy(self.model, input_ids, torch.from_numpy(pixel_values).unsqueeze(0),
                                           MAX_TOKENS)
        text_ids = ids[:-1] if ids and ids[-1] == self.eos else ids
        return self.tokenizer.decode(text_ids), ids, step_logits


# ---- scenes -------------------------------------------------------------------------

def requests_for(scene: scenes.Scene, rng: np.random.Generator) -> List[Tuple[str, str, str]]:
    """Pick a caption, one detection of a present shape, and one color question if a shape occurs once."""
    triples = scenes.tasks(scene)
    chosen = [t for t in triples if t[0] == "caption"]
    for kind in ("detect", "color"):
        options = [t for t in triples if t[0] == kind]
        if options:
            chosen.append(options[int(rng.integers(len(options)))])
    return chosen


def draw_with_imagemagick(rng: np.random.Generator, path: str) -> Optional[scenes.Scene]:
    """Draw a scene with ImageMagick's convert: flat background, one to three shapes, no noise."""
    convert = "/usr/bin/convert"
    if not os.path.exists(convert):
        return None
    width, height = int(rng.integers(64, 200)), int(rng.integers(64, 200))
    gray = int(rng.integers(80, 200))

    # Place the shapes as scenes.draw_scene does: apart, with distinct centers.
    objects = []
    commands = []
    wanted = int(rng.integers(1, 4))
    for _ in range(60):
        if len(objects) == wanted:
            break
        side = rng.uniform(0.25, 0.4) * min(width, height)
        x0, y0 = rng.uniform(0, width - side), rng.uniform(0, height - side)
        box = (x0, y0, x0 + side, y0 + side)
        center = x0 + side / 2
        if any(not (box[2] + 2 < o.box[0] or o.box[2] + 2 < box[0] or box[3] + 2 < o.box[1]
                    or o.box[3] + 2 < box[1]) or abs(center - (o.box[0] + o.box[2]) / 2) < 4 for o in objects):
            continue
        shape, color = str(rng.choice(scenes.SHAPES)), str(rng.choice(list(scenes.COLORS)))
        objects.append(scenes.SceneObject(shape, color, box))
        x1, y1 = x0 + side - 1, y0 + side - 1
        if shape == "circle":
            primitive = f"ellipse {(x0 + x1) / 2:.1f},{(y0 + y1) / 2:.1f} {side / 2:.1f},{side / 2:.1f} 0,360"
        elif shape == "square":
            primitive = f"rectangle {x0:.1f},{y0:.1f} {x1:.1f},{y1:.1f}"
        else:
            primitive = f"polygon {(x0 + x1) / 2:.1f},{y0:.1f} {x1:.1f},{y1:.1f} {x0:.1f},{y1:.1f}"
        commands += ["-fill", SHAPE_COLORS_MAGICK[color], "-draw", primitive]

    subprocess.run([convert, "-size", f"{width}x{height}", f"xc:rgb({gray},{gray},{gray})"] + commands + [path],
                   check=True)
    objects.sort(key=lambda o: (o.box[0] + o.box[2]) / 2)
    return scenes.Scene(Image.open(path).convert("RGB"), objects)


# ---- the evaluation ----------------------------------------------------------------

def evaluate(items, binary: str, model_dir: str, reference: Reference, title: str) -> None:
    """Run every (image path, kind, prompt, truth) through C and PyTorch; print the table."""
    scores: Dict[str, Dict[str, List[float]]] = {"C": {}, "PyTorch": {}}
    disagreements = []
    c_seconds = 0.0
    for path, kind, prompt, truth in items:
        c_text, c_ids, seconds = run_c(binary, model_dir, path, prompt)
        c_seconds += seconds
        torch_text, torch_ids, step_logits = reference.generate(path, prompt)
        for name, text in (("C", c_text), ("PyTorch", torch_text)):
            if kind == "detect":
                hits, total = detection_hits(truth, text)
                scores[name].setdefault("detect_hits", []).append(hits)
                scores[name].setdefault("detect_total", []).append(total)
            else:
                scores[name].setdefault(kind, []).append(float(text == truth))
        if c_ids != torch_ids:
            step = next((i for i, (a, b) in enumerate(zip(c_ids, torch_ids)) if a != b),
                        min(len(c_ids), len(torch_ids)))
            gap = float("nan")
            if step < len(step_logits) and step < len(c_ids):
                logits = step_logits[step]
                gap = float(logits.max() - logits[c_ids[step]])
            disagreements.append((path, prompt, c_text, torch_text, step, gap))

    print(f"\n== {title}: {len(items)} requests ==")
    print(f"{'metric':<34}{'C':>10}{'PyTorch':>10}")
    for label, kind in (("caption exact match", "caption"), ("color answer accuracy", "color")):
        row = [np.mean(scores[name].get(kind, [float('nan')])) for name in ("C", "PyTorch")]
        count = len(scores["C"].get(kind, []))
        print(f"{label + f' ({count})':<34}{100 * row[0]:>9.1f}%{100 * row[1]:>9.1f}%")
    recalls = []
    for name in ("C", "PyTorch"):
        total = sum(scores[name].get("detect_total", [])) or 1
        recalls.append(sum(scores[name].get("detect_hits", [])) / total)
    boxes = sum(scores["C"].get("detect_total", []))
    print(f"{f'detection recall IoU 0.5 ({boxes} boxes)':<34}{100 * recalls[0]:>9.1f}%{100 * recalls[1]:>9.1f}%")
    same = len(items) - len(disagreements)
    print(f"C vs PyTorch identical ids: {same}/{len(items)} ({100 * same / max(1, len(items)):.1f}%)")
    print(f"C program: {c_seconds / max(1, len(items)):.3f} s per request (load, vision, prefill, decode)")
    for path, prompt, c_text, torch_text, step, gap in disagreements:
        print(f"  DIFFER {os.path.basename(path)} '{prompt}': C {c_text!r} PyTorch {torch_text!r} "
              f"(first differing step {step}, PyTorch logit gap {gap:.3g})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=os.path.join(HERE, "model"))
    parser.add_argument("--binary", default=os.path.join(REPO, "build", "paligemma"))
    parser.add_argument("--scenes", type=int, default=300)
    parser.add_argument("--other-programs", action="store_true", help="also evaluate ImageMagick drawings")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if not os.path.exists(args.binary):
        sys.exit(f"{args.binary} not found: run 'make' first")

    reference = Reference(args.model)
    rng = np.random.default_rng(EVAL_SEED)
    with tempfile.TemporaryDirectory(prefix="tiny-shapes-eval-") as folder:
        items = []
        for i in range(args.scenes):
            scene = scenes.draw_scene(rng)
            path = os.path.join(folder, f"scene_{i:03d}.png")
            scene.image.save(path)
            items += [(path, kind, prompt, truth) for kind, prompt, truth in requests_for(scene, rng)]
        evaluate(items, args.binary, args.model, reference, f"{args.scenes} scenes drawn by scenes.py, seed {EVAL_SEED}")

        if args.other_programs:
            items = []
            for i in range(args.scenes // 3):
                path = os.path.join(folder, f"magick_{i:03d}.png")
                scene = draw_with_imagemagick(rng, path)
                if scene is None:
                    print("\nImageMagick's /usr/bin/convert is not installed: no scenes from other programs")
                    break
                items += [(path, kind, prompt, truth) for kind, prompt, truth in requests_for(scene, rng)]
            if items:
                evaluate(items, args.binary, args.model, reference, f"{args.scenes // 3} scenes drawn by ImageMagick")


if __name__ == "__main__":
    main()
