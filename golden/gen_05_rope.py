"""Golden data for chapter 5, rotary position embedding.

Tables: inv_freq, cos and sin at head_dim 256 (Gemma-2B) and 16, theta 10000,
for positions 1..300 and 4000 (301 rows).
Rotations: apply_rotary_pos_emb on random q and k in the Gemma-2B layout
(8 query heads, 1 key/value head, head_dim 256) at positions 1, 2, 3, 300 and
4000, and in a small layout (3 query heads, 2 key/value heads, head_dim 8) at
positions 1..4. Literal: x = [1, 2, 3, 4] at position 1, head_dim 4, whose
rotation is [-1.984111, 1.959901, 2.462378, 4.019800].
"""
import torch

from golden_io import ChapterWriter, seed_everything
from modeling_gemma import GemmaRotaryEmbedding, apply_rotary_pos_emb

THETA = 10000.0
TABLE_POSITIONS = list(range(1, 301)) + [4000]


def save_tables(out: ChapterWriter, head_dim: int) -> None:
    rope = GemmaRotaryEmbedding(head_dim, base=THETA)
    cos, sin = rope(torch.zeros(1), torch.tensor([TABLE_POSITIONS]))
    out.save(f"inv_freq_{head_dim}", rope.inv_freq)
    out.save(f"cos_{head_dim}", cos[0])
    out.save(f"sin_{head_dim}", sin[0])


def save_rotation(out: ChapterWriter, name: str, q: torch.Tensor, k: torch.Tensor, positions) -> None:
    """q [1, H, T, Dh] and k [1, K, T, Dh] rotated at the T positions."""
    rope = GemmaRotaryEmbedding(q.shape[-1], base=THETA)
    cos, sin = rope(q, torch.tensor([positions]))
    q_embed, k_embed = apply_rotary_pos_emb(q, k, cos, sin)
    out.save(f"{name}_positions", positions, dtype="<i8")
    out.save(f"{name}_q", q[0])
    out.save(f"{name}_k", k[0])
    out.save(f"{name}_q_embed", q_embed[0])
    out.save(f"{name}_k_embed", k_embed[0])


def generate() -> None:
    seed_everything(5)
    out = ChapterWriter("05_rope")
    save_tables(out, 256)
    save_tables(out, 16)

    positions = [1, 2, 3, 300, 4000]
    save_rotation(out, "gemma_2b", torch.randn(1, 8, 5, 256), torch.randn(1, 1, 5, 256), positions)
    save_rotation(out, "small", torch.randn(1, 3, 4, 8), torch.randn(1, 2, 4, 8), [1, 2, 3, 4])
    x = torch.tensor([[[[1.0, 2.0, 3.0, 4.0]]]])
    save_rotation(out, "literal", x, x, [1])
