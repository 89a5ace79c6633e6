"""Golden data for chapter 3, GemmaRMSNorm.

Cases: random [2, 7, 64] input with random weights; the same input with all
weights zero (output = normalized input); the literal example
x = [1, 2, 3, 4], w = [0.5, 0, -1, 1]; and rows at Gemma-2B's width 2048.
"""
import torch

from golden_io import ChapterWriter, seed_everything
from modeling_gemma import GemmaRMSNorm

EPS = 1e-6


def run(out: ChapterWriter, name: str, x: torch.Tensor, weight: torch.Tensor) -> None:
    norm = GemmaRMSNorm(x.shape[-1], eps=EPS)
    with torch.no_grad():
        norm.weight.copy_(weight)
        y = norm(x)
    out.save(f"{name}_x", x)
    out.save(f"{name}_weight", weight)
    out.save(f"{name}_out", y)


def generate() -> None:
    seed_everything(3)
    out = ChapterWriter("03_rms_norm")
    x = torch.randn(2, 7, 64) * 3.0
    run(out, "random", x, torch.randn(64) * 0.5)
    run(out, "zero_weight", x, torch.zeros(64))
    run(out, "literal", torch.tensor([[1.0, 2.0, 3.0, 4.0]]), torch.tensor([0.5, 0.0, -1.0, 1.0]))
    run(out, "width_2048", torch.randn(3, 2048) * 10.0, torch.randn(2048) * 0.1)
