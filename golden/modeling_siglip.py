"""PyTorch reference for the SigLIP vision tower of PaliGemma, float32 on the CPU.

The class names and the parameter names follow Hugging Face transformers
(4.42 to 4.48, SiglipVisionModel) and the educational PyTorch rewrite of
PaliGemma that uses the same names. A state dict of paligemma-3b-pt-224
under `vision_tower.` therefore loads into SiglipVisionModel as is.
PaliGemma runs the tower without the attention-pooling head
(vision_use_head=False), so there is none here. Tensors carry a batch
dimension B, which the golden scripts always set to 1; the C code drops it.
"""
from typing import List

import torch
from torch import nn


class SiglipVisionConfig:
    """Sizes of the vision tower; the defaults are SigLIP So400m/14 at 224 px.

    These are the values in paligemma-3b-pt-224's config.json. transformers'
    own SiglipVisionConfig defaults to a base-size tower (768 wide, patch 16),
    and PaliGemmaConfig's fallback vision config sets intermediate_size 4096,
    where the checkpoint's config.json has 4304.
    """

    def __init__(self, hidden_size: int = 1152, intermediate_size: int = 4304,
                 num_hidden_layers: int = 27, num_attention_heads: int = 16,
                 num_channels: int = 3, image_size: int = 224, patch_size: int = 14,
                 layer_norm_eps: float = 1e-6) -> None:
        self.hidden_size = hidden_size
        self.intermediate_size = intermediate_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.num_channels = num_channels
        self.image_size = image_size
        self.patch_size = patch_size
        self.layer_norm_eps = layer_norm_eps

    @property
    def num_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2


class SiglipVisionEmbeddings(nn.Module):
    """Patch convolution plus a learned position embedding: [B, C, I, I] -> [B, P, E]."""

    def __init__(self, config: SiglipVisionConfig) -> None:
        super().__init__()
        self.patch_embedding = nn.Conv2d(config.num_channels, config.hidden_size,
                                         kernel_size=config.patch_size, stride=config.patch_size,
                                         padding="valid")
        self.num_patches = config.num_patches
        self.position_embedding = nn.Embedding(self.num_patches, config.hidden_size)
        self.register_buffer("position_ids", torch.arange(self.num_patches).expand((1, -1)),
                             persistent=False)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        patch_embeds = self.patch_embedding(pixel_values)  # [B, E, g, g], g = I / p
        # flatten(2) reads the g x g grid row by row: patch = row * g + col.
        embeddings = patch_embeds.flatten(2).transpose(1, 2)  # [B, P, E]
        return embeddings + self.position_embedding(self.position_ids)


class SiglipAttention(nn.Module):
    """Multi-head self-attention with biases and no mask: every patch attends to every patch."""

    def __init__(self, config: SiglipVisionConfig) -> None:
        super().__init__()
        self.embed_dim = config.hidden_size
        self.num_heads = config.num_attention_heads
        self.head_dim = self.embed_dim // self.num_heads
        self.scale = self.head_dim ** -0.5
        self.q_proj = nn.Linear(self.embed_dim, self.embed_dim)
        self.k_proj = nn.Linear(self.embed_dim, self.embed_dim)
        self.v_proj = nn.Linear(self.embed_dim, self.embed_dim)
        self.out_proj = nn.Linear(self.embed_dim, self.embed_dim)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        batch, tokens, _ = hidden_states.shape
        shape = (batch, tokens, self.num_heads, self.head_dim)
        query_states = self.q_proj(hidden_states).view(shape).transpose(1, 2)  # [B, H, T, Dh]
        key_states = self.k_proj(hidden_states).view(shape).transpose(1, 2)
        value_states = self.v_proj(hidden_states).view(shape).transpose(1, 2)

        attn_weights = torch.matmul(query_states, key_states.transpose(2, 3)) * self.scale
        attn_weights = nn.functional.softmax(attn_weights, dim=-1, dtype=torch.float32)
        attn_weights = attn_weights.to(query_states.dtype)
        attn_output = torch.matmul(attn_weights, value_states)  # [B, H, T, Dh]

        attn_output = attn_output.transpose(1, 2).contiguous().reshape(batch, tokens, self.embed_dim)
        return self.out_proj(attn_output)


class SiglipMLP(nn.Module):
    """fc2(gelu_tanh(fc1(x))), both Linears with bias."""

    def __init__(self, config: SiglipVisionConfig) -> None:
        super().__init__()
        self.fc1 = nn.Linear(config.hidden_size, config.intermediate_size)
        self.fc2 = nn.Linear(config.intermediate_size, config.hidden_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        hidden_states = nn.functional.gelu(self.fc1(hidden_states), approximate="tanh")
        return self.fc2(hidden_states)


class SiglipEncoderLayer(nn.Module):
    """Pre-LN transformer block with the standard LayerNorm (weight and bias, no 1 + w)."""

    def __init__(self, config: SiglipVisionConfig) -> None:
        super().__init__()
        self.layer_norm1 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.self_attn = SiglipAttention(config)
        self.layer_norm2 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = SiglipMLP(config)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        residual = hidden_states
        hidden_states = residual + self.self_attn(self.layer_norm1(hidden_states))
        residual = hidden_states
        return residual + self.mlp(self.layer_norm2(hidden_states))


class SiglipEncoder(nn.Module):
    """num_hidden_layers encoder layers in sequence."""

    def __init__(self, config: SiglipVisionConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(SiglipEncoderLayer(config) for _ in range(config.num_hidden_layers))

    def forward(self, inputs_embeds: torch.Tensor, all_hidden_states: List[torch.Tensor] = None) -> torch.Tensor:
        """Run every layer; append each layer's output to all_hidden_states when given."""
        hidden_states = inputs_embeds
        for layer in self.layers:
            hidden_states = layer(hidden_states)
            if all_hidden_states is not None:
                all_hidden_states.append(hidden_states)
        return hidden_states


class SiglipVisionTransformer(nn.Module):
    """Embeddings, encoder, post_layernorm: pixel values [B, C, I, I] -> image features [B, P, E]."""

    def __init__(self, config: SiglipVisionConfig) -> None:
        super().__init__()
        self.config = config
        self.embeddings = SiglipVisionEmbeddings(config)
        self.encoder = SiglipEncoder(config)
        self.post_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, pixel_values: torch.Tensor, stages: List[torch.Tensor] = None) -> torch.Tensor:
        """Return the last hidden state; when stages is a list, append the
        embeddings, each layer's output and the post-layernorm output to it."""
        hidden_states = self.embeddings(pixel_values)
        if stages is not None:
            stages.append(hidden_states)
        hidden_states = self.encoder(hidden_states, stages)
        last_hidden_state = self.post_layernorm(hidden_states)
        if stages is not None:
            stages.append(last_hidden_state)
        return last_hidden_state


class SiglipVisionModel(nn.Module):
    """The vision tower as PaliGemma stores it, with its parameters under `vision_model.`."""

    def __init__(self, config: SiglipVisionConfig) -> None:
        super().__init__()
        self.vision_model = SiglipVisionTransformer(config)

    def forward(self, pixel_values: torch.Tensor, stages: List[torch.Tensor] = None) -> torch.Tensor:
        return self.vision_model(pixel_values, stages)
