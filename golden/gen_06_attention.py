"""Golden data for chapter 6, GemmaAttention.

All cases have hidden 64 and seeded projection weights: stream seed + j for
q_proj, k_proj, v_proj, o_proj (j = 0..3), half-width 1.5 * sqrt(3 / in),
a standard deviation of 1.5 / sqrt(in), so that the scores spread over a few
units and the softmax is far from uniform. Only the inputs, masks, positions
and outputs are stored.

Cases (positions are 1-based, as in PaliGemma):
- multi_query: 8 query heads, 1 key/value head, head_dim 16 (Gemma-2B's
  layout at a small width); 6 tokens, no mask (a prefix).
- two_kv_heads: 4 query heads, 2 key/value heads, head_dim 16; 6 tokens with
  the prefix-LM mask of prefix 3.
- head_dim_24: 4 query heads of 24 (4 * 24 = 96, not 64), 2 key/value heads;
  5 tokens with a causal mask.
- decode: 4 query heads, 2 key/value heads, head_dim 16; a prefill of 5
  tokens (no mask, positions 1..5) through a KVCache, then 3 one-token decode
  steps at positions 6, 7, 8. Step u stores its input and output; the cache
  after the last step is stored too.
"""
import math

import torch

from golden_io import ChapterWriter, seed_everything
from modeling_gemma import GemmaAttention, GemmaConfig, KVCache
from seeded_random import seeded_uniform

HIDDEN = 64
GAIN = 1.5
CASES = {
    # name: (num_attention_heads, num_key_value_heads, head_dim, seed)
    "multi_query": (8, 1, 16, 610),
    "two_kv_heads": (4, 2, 16, 620),
    "head_dim_24": (4, 2, 24, 630),
    "decode": (4, 2, 16, 640),
}


def make_attention(heads: int, kv_heads: int, head_dim: int, seed: int) -> GemmaAttention:
    config = GemmaConfig(hidden_size=HIDDEN, num_attention_heads=heads, num_key_value_heads=kv_heads,
                         head_dim=head_dim)
    attention = GemmaAttention(config, layer_idx=0)
    with torch.no_grad():
        for j, name in enumerate(("q_proj", "k_proj", "v_proj", "o_proj")):
            weight = getattr(attention, name).weight
            scale = GAIN * math.sqrt(3.0 / weight.shape[1])
            weight.copy_(torch.from_numpy(seeded_uniform(tuple(weight.shape), seed + j, scale)))
    return attention


def prefix_lm_mask(tokens: int, prefix: int) -> torch.Tensor:
    """[T, T]: the first `prefix` tokens see each other; later ones are causal."""
    allowed = torch.tril(torch.ones(tokens, tokens, dtype=torch.bool))
    allowed[:prefix, :prefix] = True
    return torch.zeros(tokens, tokens).masked_fill(~allowed, float("-inf"))


def run_case(out: ChapterWriter, name: str, tokens: int, mask) -> None:
    heads, kv_heads, head_dim, seed = CASES[name]
    attention = make_attention(heads, kv_heads, head_dim, seed)
    x = torch.randn(1, tokens, HIDDEN)
    positions = list(range(1, tokens + 1))
    with torch.no_grad():
        y = attention(x, None if mask is None else mask[None, None], torch.tensor([positions]))
    out.save(f"{name}_x", x[0])
    out.save(f"{name}_positions", positions, dtype="<i8")
    if mask is not None:
        out.save(f"{name}_mask", mask)
    out.save(f"{name}_out", y[0])


def run_decode(out: ChapterWriter, prefill: int, steps: int) -> None:
    heads, kv_heads, head_dim, seed = CASES["decode"]
    attention = make_attention(heads, kv_heads, head_dim, seed)
    cache = KVCache()
    with torch.no_grad():
        for step in range(1 + steps):
            tokens = prefill if step == 0 else 1
            first = 1 if step == 0 else prefill + step
            positions = list(range(first, first + tokens))
            x = torch.randn(1, tokens, HIDDEN)
            y = attention(x, None, torch.tensor([positions]), cache)
            out.save(f"decode_x_{step}", x[0])
            out.save(f"decode_positions_{step}", positions, dtype="<i8")
            out.save(f"decode_out_{step}", y[0])
    out.save("decode_cached_keys", cache.key_cache[0][0])
    out.save("decode_cached_values", cache.value_cache[0][0])


def generate() -> None:
    seed_everything(6)
    out = ChapterWriter("06_attention")
    run_case(out, "multi_query", 6, None)
    run_case(out, "two_kv_heads", 6, prefix_lm_mask(6, 3))
    run_case(out, "head_dim_24", 5, prefix_lm_mask(5, 1))
    run_decode(out, prefill=5, steps=3)
