"""Golden data for chapter 2, repeat_kv.

Case gemma_2b: 1 key/value head repeated 8 times at head_dim 256, the shape
of Gemma-2B. Case two_heads: 2 key/value heads repeated 4 times, where
repeating each head and tiling the block give different results.
"""
import torch

from golden_io import ChapterWriter, seed_everything
from modeling_gemma import repeat_kv

CASES = {
    # name: (num_key_value_heads, n_rep, seq_len, head_dim)
    "gemma_2b": (1, 8, 5, 256),
    "two_heads": (2, 4, 6, 16),
}


def generate() -> None:
    seed_everything(2)
    out = ChapterWriter("02_repeat_kv")
    for name, (num_kv_heads, n_rep, seq_len, head_dim) in CASES.items():
        hidden_states = torch.randn(1, num_kv_heads, seq_len, head_dim)
        out.save(f"{name}_input", hidden_states[0])
        out.save(f"{name}_output", repeat_kv(hidden_states, n_rep)[0])
