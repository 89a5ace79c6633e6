"""PyTorch reference for the Gemma half of PaliGemma, float32 on the CPU.

The class and function names follow the Hugging Face transformers classes
(GemmaRMSNorm, GemmaAttention, ...) and the educational PyTorch rewrite of
PaliGemma that uses the same names (KVCache, repeat_kv). Tensors carry a batch
dimension B, which the golden scripts always set to 1; the C code drops it.
"""
import math
from typing import List, Optional, Tuple

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


class GemmaConfig:
    """The text configuration of paligemma-3b-pt-224 unless overridden.

    Field names are Hugging Face's. transformers' own GemmaConfig() defaults to
    Gemma-7B; these defaults are the Gemma-2B text model of PaliGemma, with the
    257216-row vocabulary of the checkpoint's config.json.
    """

    def __init__(self, vocab_size: int = 257216, hidden_size: int = 2048,
                 intermediate_size: int = 16384, num_hidden_layers: int = 18,
                 num_attention_heads: int = 8, num_key_value_heads: int = 1, head_dim: int = 256,
                 max_position_embeddings: int = 8192, rms_norm_eps: float = 1e-6,
                 rope_theta: float = 10000.0, pad_token_id: int = 0, eos_token_id: int = 1,
                 bos_token_id: int = 2) -> None:
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.intermediate_size = intermediate_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.num_key_value_heads = num_key_value_heads
        self.head_dim = head_dim
        self.max_position_embeddings = max_position_embeddings
        self.rms_norm_eps = rms_norm_eps
        self.rope_theta = rope_theta
        self.pad_token_id = pad_token_id
        self.eos_token_id = eos_token_id
        self.bos_token_id = bos_token_id


class GemmaMLP(nn.Module):
    """Gated MLP: down_proj(gelu_tanh(gate_proj(x)) * up_proj(x)), no biases."""

    def __init__(self, config: GemmaConfig) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.up_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Gemma's hidden_act is "gelu_pytorch_tanh": the tanh approximation.
        gate = nn.functional.gelu(self.gate_proj(x), approximate="tanh")
        return self.down_proj(gate * self.up_proj(x))


class GemmaRotaryEmbedding(nn.Module):
    """cos and sin tables of the rotary position embedding, in float32."""

    def __init__(self, dim: int, max_position_embeddings: int = 8192, base: float = 10000.0) -> None:
        super().__init__()
        self.dim = dim
        self.max_position_embeddings = max_position_embeddings
        self.base = base
        inv_freq = 1.0 / (self.base ** (torch.arange(0, self.dim, 2, dtype=torch.int64).float() / self.dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    @torch.no_grad()
    def forward(self, x: torch.Tensor, position_ids: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Return cos and sin, each [B, T, Dh], for position_ids [B, T]."""
        inv_freq_expanded = self.inv_freq[None, :, None].float().expand(position_ids.shape[0], -1, 1)
        position_ids_expanded = position_ids[:, None, :].float()
        # [B, Dh/2, 1] @ [B, 1, T]: each angle is one float32 product position * inv_freq.
        freqs = (inv_freq_expanded @ position_ids_expanded).transpose(1, 2)
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().to(x.dtype), emb.sin().to(x.dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """Return cat(-x2, x1) where x1, x2 are the first and second halves of the last dim."""
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary_pos_emb(q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                         unsqueeze_dim: int = 1) -> Tuple[torch.Tensor, torch.Tensor]:
    """Rotate q [B, H, T, Dh] and k [B, K, T, Dh] by cos and sin [B, T, Dh]."""
    cos = cos.unsqueeze(unsqueeze_dim)
    sin = sin.unsqueeze(unsqueeze_dim)
    q_embed = (q * cos) + (rotate_half(q) * sin)
    k_embed = (k * cos) + (rotate_half(k) * sin)
    return q_embed, k_embed


class GemmaAttention(nn.Module):
    """Multi-head attention with shared key/value heads (eager, float32)."""

    def __init__(self, config: GemmaConfig, layer_idx: int) -> None:
        super().__init__()
        self.layer_idx = layer_idx
        self.hidden_size = config.hidden_size
        self.num_heads = config.num_attention_heads
        self.head_dim = config.head_dim
        self.num_key_value_heads = config.num_key_value_heads
        self.num_key_value_groups = self.num_heads // self.num_key_value_heads
        self.q_proj = nn.Linear(self.hidden_size, self.num_heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(self.hidden_size, self.num_key_value_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(self.hidden_size, self.num_key_value_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.num_heads * self.head_dim, self.hidden_size, bias=False)
        self.rotary_emb = GemmaRotaryEmbedding(self.head_dim, config.max_position_embeddings,
                                               config.rope_theta)

    def forward(self, hidden_states: torch.Tensor, attention_mask: Optional[torch.Tensor],
                position_ids: torch.Tensor, kv_cache: Optional[KVCache] = None) -> torch.Tensor:
        """hidden_states [B, T, D], attention_mask [B, 1, T, S] additive or None, position_ids [B, T]."""
        bsz, q_len, _ = hidden_states.size()
        query_states = self.q_proj(hidden_states).view(bsz, q_len, self.num_heads, self.head_dim).transpose(1, 2)
        key_states = self.k_proj(hidden_states).view(bsz, q_len, self.num_key_value_heads, self.head_dim).transpose(1, 2)
        value_states = self.v_proj(hidden_states).view(bsz, q_len, self.num_key_value_heads, self.head_dim).transpose(1, 2)

        cos, sin = self.rotary_emb(value_states, position_ids)
        query_states, key_states = apply_rotary_pos_emb(query_states, key_states, cos, sin)

        # The cache stores keys after the rotation, so old keys never need re-rotating.
        if kv_cache is not None:
            key_states, value_states = kv_cache.update(key_states, value_states, self.layer_idx)

        key_states = repeat_kv(key_states, self.num_key_value_groups)
        value_states = repeat_kv(value_states, self.num_key_value_groups)

        attn_weights = torch.matmul(query_states, key_states.transpose(2, 3)) / math.sqrt(self.head_dim)
        if attention_mask is not None:
            attn_weights = attn_weights + attention_mask[:, :, :, : key_states.shape[-2]]
        attn_weights = nn.functional.softmax(attn_weights, dim=-1, dtype=torch.float32).to(query_states.dtype)
        attn_output = torch.matmul(attn_weights, value_states)

        attn_output = attn_output.transpose(1, 2).contiguous().view(bsz, q_len, -1)
        return self.o_proj(attn_output)


class GemmaDecoderLayer(nn.Module):
    """Pre-norm block: h + attn(norm(h)), then h + mlp(norm(h))."""

    def __init__(self, config: GemmaConfig, layer_idx: int) -> None:
        super().__init__()
        self.self_attn = GemmaAttention(config, layer_idx)
        self.mlp = GemmaMLP(config)
        self.input_layernorm = GemmaRMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.post_attention_layernorm = GemmaRMSNorm(config.hidden_size, eps=config.rms_norm_eps)

    def forward(self, hidden_states: torch.Tensor, attention_mask: Optional[torch.Tensor],
                position_ids: torch.Tensor, kv_cache: Optional[KVCache] = None) -> torch.Tensor:
        residual = hidden_states
        hidden_states = self.input_layernorm(hidden_states)
        hidden_states = self.self_attn(hidden_states, attention_mask, position_ids, kv_cache)
        hidden_states = residual + hidden_states

        residual = hidden_states
        hidden_states = self.post_attention_layernorm(hidden_states)
        hidden_states = self.mlp(hidden_states)
        return residual + hidden_states


class GemmaModel(nn.Module):
    """Embedding, the decoder layers and the final RMSNorm."""

    def __init__(self, config: GemmaConfig) -> None:
        super().__init__()
        self.config = config
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size, config.pad_token_id)
        self.layers = nn.ModuleList(
            [GemmaDecoderLayer(config, layer_idx) for layer_idx in range(config.num_hidden_layers)])
        self.norm = GemmaRMSNorm(config.hidden_size, eps=config.rms_norm_eps)

    def forward(self, input_ids: Optional[torch.Tensor] = None,
                inputs_embeds: Optional[torch.Tensor] = None,
                attention_mask: Optional[torch.Tensor] = None,
                position_ids: Optional[torch.Tensor] = None,
                kv_cache: Optional[KVCache] = None) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        """Return the final hidden state [B, T, D] and every layer's input plus the last layer's
        output, before the final norm ([L + 1] tensors of [B, T, D]).

        transformers' output_hidden_states differs only in its last entry, which it takes
        after the final norm.
        """
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids and inputs_embeds")
        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)
        hidden_states = inputs_embeds

        # The normalizer is rounded to the activation dtype first, as transformers does:
        # sqrt(2048) becomes 45.2548332 in float32.
        normalizer = torch.tensor(self.config.hidden_size ** 0.5, dtype=hidden_states.dtype)
        hidden_states = hidden_states * normalizer

        layer_boundaries = [hidden_states]
        for decoder_layer in self.layers:
            hidden_states = decoder_layer(hidden_states, attention_mask, position_ids, kv_cache)
            layer_boundaries.append(hidden_states)
        return self.norm(hidden_states), layer_boundaries


class GemmaForCausalLM(nn.Module):
    """GemmaModel plus the language-model head, tied to embed_tokens."""

    def __init__(self, config: GemmaConfig) -> None:
        super().__init__()
        self.config = config
        self.model = GemmaModel(config)

    def forward(self, input_ids: Optional[torch.Tensor] = None,
                inputs_embeds: Optional[torch.Tensor] = None,
                attention_mask: Optional[torch.Tensor] = None,
                position_ids: Optional[torch.Tensor] = None,
                kv_cache: Optional[KVCache] = None,
                num_logits_to_keep: int = 0) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        """Return logits [B, T', V] for the last num_logits_to_keep rows (0: all T rows),
        and the layer boundaries of GemmaModel.forward."""
        hidden_states, layer_boundaries = self.model(input_ids, inputs_embeds, attention_mask,
                                                     position_ids, kv_cache)
        # lm_head shares embed_tokens' [V, D] matrix: logits = h @ embed_tokens^T.
        # hidden_states[:, -0:] is every row, which is why 0 means "all".
        last_rows = hidden_states[:, -num_logits_to_keep:, :]
        logits = nn.functional.linear(last_rows, self.model.embed_tokens.weight)
        return logits.float(), layer_boundaries


# Seeded random weights, bit-identical to chapters/08_gemma/random_weights.c.
# Tensor i of a model gets the stream seed + i: embed_tokens is 0, the final norm 1,
# and tensor j of layer l (in the order below) is 2 + 9 * l + j.
LAYER_TENSORS = ("input_layernorm", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                 "self_attn.o_proj", "post_attention_layernorm", "mlp.gate_proj", "mlp.up_proj",
                 "mlp.down_proj")
NORM_SCALE = 0.5


def seeded_scale(name: str, shape: Tuple[int, ...], gain: float) -> float:
    """Return the half-width of the uniform distribution of one tensor.

    Norm weights are uniform in [-0.5, 0.5), so 1 + w lies in [0.5, 1.5). A Linear
    weight [out, in] gets gain * sqrt(3 / in), which is a standard deviation of
    gain / sqrt(in). embed_tokens [V, D] gets gain * sqrt(3 / D).
    """
    if name.endswith("norm"):
        return NORM_SCALE
    return gain * math.sqrt(3.0 / shape[1])


def fill_seeded(parameter: torch.Tensor, name: str, seed: int, gain: float) -> None:
    """Overwrite one parameter with seeded_uniform values."""
    from seeded_random import seeded_uniform
    shape = tuple(parameter.shape)
    values = seeded_uniform(shape, seed, seeded_scale(name, shape, gain))
    with torch.no_grad():
        parameter.copy_(torch.from_numpy(values))


def fill_seeded_layer(layer: GemmaDecoderLayer, layer_idx: int, seed: int, gain: float) -> None:
    """Fill the nine tensors of decoder layer layer_idx of a model whose seed is `seed`."""
    for j, name in enumerate(LAYER_TENSORS):
        module = layer
        for part in name.split("."):
            module = getattr(module, part)
        fill_seeded(module.weight, name, seed + 2 + 9 * layer_idx + j, gain)


def fill_seeded_model(model: GemmaForCausalLM, seed: int, gain: float) -> None:
    """Fill every weight of a GemmaForCausalLM from the seed."""
    fill_seeded(model.model.embed_tokens.weight, "embed_tokens", seed, gain)
    fill_seeded(model.model.norm.weight, "norm", seed + 1, gain)
    for layer_idx, layer in enumerate(model.model.layers):
        fill_seeded_layer(layer, layer_idx, seed, gain)
