"""Golden data for chapter 1, the KV cache.

Three layers, 2 key/value heads of 8 channels; a prefill of 5 tokens, then 3
single-token updates. After each update the whole cache of every layer is
saved, so the C test checks every cached element and num_items() = 5, 6, 7, 8.
"""
import torch

from golden_io import ChapterWriter, seed_everything
from modeling_gemma import KVCache

NUM_LAYERS, NUM_KV_HEADS, HEAD_DIM = 3, 2, 8
PREFILL, STEPS = 5, 3


def generate() -> None:
    seed_everything(1)
    out = ChapterWriter("01_kv_cache")
    cache = KVCache()

    # new_keys_u / new_values_u: [L, K, T, Dh], what update u adds to each layer.
    for update in range(1 + STEPS):
        tokens = PREFILL if update == 0 else 1
        keys = torch.randn(NUM_LAYERS, 1, NUM_KV_HEADS, tokens, HEAD_DIM)
        values = torch.randn(NUM_LAYERS, 1, NUM_KV_HEADS, tokens, HEAD_DIM)
        for layer in range(NUM_LAYERS):
            cache.update(keys[layer], values[layer], layer)
        out.save(f"new_keys_{update}", keys[:, 0])
        out.save(f"new_values_{update}", values[:, 0])

        # cached_keys_u: [L, K, S, Dh], the whole cache after update u.
        out.save(f"cached_keys_{update}", torch.stack([k[0] for k in cache.key_cache]))
        out.save(f"cached_values_{update}", torch.stack([v[0] for v in cache.value_cache]))
        out.save(f"num_items_{update}", [cache.num_items()], dtype="<i8")
