"""PyTorch reference for the Gemma half of PaliGemma, float32 on the CPU.

The class and function names follow the Hugging Face transformers classes
(GemmaRMSNorm, GemmaAttention, ...) and the educational PyTorch rewrite of
PaliGemma that uses the same names (KVCache, repeat_kv). Tensors carry a batch
dimension B, which the golden scripts always set to 1; the C code drops it.
"""
from typing import List, Tuple

import torch
from torch import nn


class KVCache:
    """Keys and values of every decoder layer, grown along the sequence.

    key_cache[layer] is [B, K, S, Dh]: K key/value heads, S cached tokens.
    """

    def __init__(self) -> None:
        self.key_cache: List[torch.Tensor] = []
        self.value_cache: List[torch.Tensor] = []

    def num_items(self) -> int:
        """Return the number of cached tokens (read from layer 0)."""
        if len(self.key_cache) == 0:
            return 0
        return self.key_cache[0].shape[-2]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor,
               layer_idx: int) -> Tuple[torch.Tensor, torch.Tensor]:
        """Append [B, K, T, Dh] new keys and values to a layer; return all of them."""
        if len(self.key_cache) <= layer_idx:
            self.key_cache.append(key_states)
            self.value_cache.append(value_states)
        else:
            self.key_cache[layer_idx] = torch.cat([self.key_cache[layer_idx], key_states], dim=-2)
            self.value_cache[layer_idx] = torch.cat([self.value_cache[layer_idx], value_states], dim=-2)
        return self.key_cache[layer_idx], self.value_cache[layer_idx]


def repeat_kv(hidden_states: torch.Tensor, n_rep: int) -> torch.Tensor:
    """Repeat each of the K key/value heads n_rep times: [B, K, S, Dh] -> [B, K * n_rep, S, Dh]."""
    batch, num_key_value_heads, seq_len, head_dim = hidden_states.shape
    if n_rep == 1:
        return hidden_states
    expanded = hidden_states[:, :, None, :, :].expand(batch, num_key_value_heads, n_rep, seq_len, head_dim)
    return expanded.reshape(batch, num_key_value_heads * n_rep, seq_len, head_dim)


class GemmaRMSNorm(nn.Module):
    """RMSNorm with Gemma's scale: x * rsqrt(mean(x^2) + eps) * (1 + weight)."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.zeros(dim))

    def _norm(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        output = self._norm(x.float())
        # Gemma stores the scale as an offset from 1, so zero weights mean identity scaling.
        output = output * (1.0 + self.weight.float())
        return output.type_as(x)
