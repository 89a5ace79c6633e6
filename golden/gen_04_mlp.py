"""Golden data for chapter 4, GemmaMLP.

Case random: 5 tokens at hidden 64, intermediate 256, with seeded weights
(seeded_uniform streams 401 gate_proj, 402 up_proj, 403 down_proj, half-width
sqrt(3 / in_features), so that each output has a standard deviation near 1).
Only x and the output are stored; the C test makes the same weights.
Case gelu: F.gelu(x, approximate="tanh") on 97 points in [-6, 6], which pins
the activation to PyTorch's kernel, and its value at 1.
"""
import math

import torch

from golden_io import ChapterWriter, seed_everything
from modeling_gemma import GemmaConfig, GemmaMLP
from seeded_random import seeded_uniform

HIDDEN, INTERMEDIATE, TOKENS = 64, 256, 5
SEEDS = {"gate_proj": 401, "up_proj": 402, "down_proj": 403}


def generate() -> None:
    seed_everything(4)
    out = ChapterWriter("04_mlp")

    config = GemmaConfig(hidden_size=HIDDEN, intermediate_size=INTERMEDIATE)
    mlp = GemmaMLP(config)
    with torch.no_grad():
        for name, seed in SEEDS.items():
            weight = getattr(mlp, name).weight
            scale = math.sqrt(3.0 / weight.shape[1])
            weight.copy_(torch.from_numpy(seeded_uniform(tuple(weight.shape), seed, scale)))
        x = torch.randn(1, TOKENS, HIDDEN)
        out.save("random_x", x[0])
        out.save("random_out", mlp(x)[0])

        gelu_x = torch.linspace(-6.0, 6.0, 97)
        out.save("gelu_x", gelu_x)
        out.save("gelu_out", torch.nn.functional.gelu(gelu_x, approximate="tanh"))
