"""Golden data for chapter 10, PaliGemmaMultiModalProjector.

Cases:
- small: 16 image features of width 64 projected to width 48, with torch's
  seeded random weights (written out).
- paligemma_width: 4 rows at the real widths, 1152 -> 2048. The weight and
  bias come from seeded_uniform with the seeds below, which the C test
  repeats, so only the input and the output are written.
"""
import torch

from golden_io import ChapterWriter, seed_everything
from modeling_paligemma import PaliGemmaMultiModalProjector
from seeded_random import seeded_uniform

# (seed, scale) of the 1152 -> 2048 weight and bias; tests/test_10_projector.c repeats them.
PALIGEMMA_WEIGHT_SEED, PALIGEMMA_WEIGHT_SCALE = 10001, 0.05
PALIGEMMA_BIAS_SEED, PALIGEMMA_BIAS_SCALE = 10002, 0.02


def run(out: ChapterWriter, name: str, projector: PaliGemmaMultiModalProjector, rows: int,
        save_weights: bool) -> None:
    vision_output = torch.randn(1, rows, projector.linear.in_features)
    with torch.no_grad():
        image_features = projector(vision_output)
    out.save(f"{name}_vision_output", vision_output[0])
    if save_weights:
        out.save(f"{name}_weight", projector.linear.weight)
        out.save(f"{name}_bias", projector.linear.bias)
    out.save(f"{name}_image_features", image_features[0])


def generate() -> None:
    seed_everything(10)
    out = ChapterWriter("10_projector")

    small = PaliGemmaMultiModalProjector(64, 48)
    with torch.no_grad():
        small.linear.weight.copy_(torch.randn(48, 64) / 8.0)
        small.linear.bias.copy_(torch.randn(48) * 0.1)
    run(out, "small", small, 16, save_weights=True)

    real = PaliGemmaMultiModalProjector(1152, 2048)
    with torch.no_grad():
        real.linear.weight.copy_(torch.from_numpy(
            seeded_uniform((2048, 1152), PALIGEMMA_WEIGHT_SEED, PALIGEMMA_WEIGHT_SCALE)))
        real.linear.bias.copy_(torch.from_numpy(
            seeded_uniform((2048,), PALIGEMMA_BIAS_SEED, PALIGEMMA_BIAS_SCALE)))
    run(out, "paligemma_width", real, 4, save_weights=False)
