"""Golden data for chapter 7, GemmaDecoderLayer.

The layer weights come from fill_seeded_layer (modeling_gemma.py), the twin
of chapters/08_gemma/random_weights.c, as layer 0 of a model with the given
seed; only inputs, masks, positions and outputs are stored.

Cases (positions 1-based):
- small: hidden 64, intermediate 128, 4 query heads, 1 key/value head,
  head_dim 16, gain 1.5; 6 tokens without a mask.
- small_causal: the same layer and input with a causal mask.
- gemma_2b_width: Gemma-2B's layer (hidden 2048, intermediate 16384, 8 query
  heads, 1 key/value head, head_dim 256), gain 1; 4 tokens without a mask.
  Its weights are about 420 MB in float32, so both sides regenerate them.
"""
import torch

from golden_io import ChapterWriter, seed_everything
from modeling_gemma import GemmaConfig, GemmaDecoderLayer, fill_seeded_layer

SMALL = dict(hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=1, head_dim=16)
GEMMA_2B = dict(hidden_size=2048, intermediate_size=16384, num_attention_heads=8, num_key_value_heads=1,
                head_dim=256)


def make_layer(sizes: dict, seed: int, gain: float) -> GemmaDecoderLayer:
    layer = GemmaDecoderLayer(GemmaConfig(**sizes), layer_idx=0)
    fill_seeded_layer(layer, 0, seed, gain)
    return layer


def run(out: ChapterWriter, name: str, layer: GemmaDecoderLayer, x: torch.Tensor, mask) -> None:
    tokens = x.shape[1]
    positions = list(range(1, tokens + 1))
    with torch.no_grad():
        y = layer(x, None if mask is None else mask[None, None], torch.tensor([positions]))
    out.save(f"{name}_x", x[0])
    out.save(f"{name}_positions", positions, dtype="<i8")
    if mask is not None:
        out.save(f"{name}_mask", mask)
    out.save(f"{name}_out", y[0])


def generate() -> None:
    seed_everything(7)
    out = ChapterWriter("07_decoder_layer")

    layer = make_layer(SMALL, seed=700, gain=1.5)
    x = torch.randn(1, 6, 64)
    run(out, "small", layer, x, None)
    causal = torch.zeros(6, 6).masked_fill(torch.ones(6, 6, dtype=torch.bool).triu(1), float("-inf"))
    run(out, "small_causal", layer, x, causal)

    layer = make_layer(GEMMA_2B, seed=7000, gain=1.0)
    run(out, "gemma_2b_width", layer, torch.randn(1, 4, 2048), None)
