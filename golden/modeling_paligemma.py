"""PyTorch reference for PaliGemma's glue and for the whole model, float32 on the CPU.

PaliGemmaMultiModalProjector maps SigLIP's image features into Gemma's
embedding space; _merge_input_ids_with_image_features puts them into the
rows of the text sequence that hold the <image> token. The names follow
Hugging Face transformers 4.42 to 4.48 and the educational PyTorch rewrite of
PaliGemma. The two helpers after them build the prefix-LM attention mask and
the 1-based position ids that transformers computes inside the model's forward.
The second half composes the towers into PaliGemmaForConditionalGeneration,
loads Hugging Face checkpoints and generates greedily.
Tensors carry a batch dimension B, which the golden scripts set to 1.
"""
import json
import os
from typing import Dict, List, Optional, Tuple

import torch
from torch import nn

from modeling_gemma import GemmaConfig, GemmaForCausalLM, KVCache
from modeling_siglip import SiglipVisionConfig, SiglipVisionModel


class PaliGemmaMultiModalProjector(nn.Module):
    """One Linear with bias, vision width E -> text width D: [B, P, E] -> [B, P, D]."""

    def __init__(self, vision_hidden_size: int, projection_dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(vision_hidden_size, projection_dim, bias=True)

    def forward(self, image_features: torch.Tensor) -> torch.Tensor:
        return self.linear(image_features)


def _merge_input_ids_with_image_features(image_features: torch.Tensor, inputs_embeds: torch.Tensor,
                                         input_ids: torch.Tensor, hidden_size: int,
                                         image_token_index: int, pad_token_id: int) -> torch.Tensor:
    """Return the [B, T, D] embeddings that enter Gemma, before its sqrt(D) normalizer.

    image_features is the projector output [B, P, D]; inputs_embeds is
    embed_tokens(input_ids) [B, T, D]. Text rows keep their embedding, the
    rows whose id is image_token_index take the image features in order,
    divided by sqrt(hidden_size), and rows whose id is pad_token_id are zero
    (a negative pad_token_id means there is none, as transformers sets -1).
    """
    num_image_tokens = int((input_ids == image_token_index).sum())
    num_image_features = image_features.shape[0] * image_features.shape[1]
    if num_image_tokens != num_image_features:
        raise ValueError(f"{num_image_tokens} image tokens in input_ids but {num_image_features} image features")

    # GemmaModel multiplies every row by sqrt(hidden_size) later; dividing the
    # image rows here makes that multiplication give them back unchanged.
    scaled_image_features = image_features / (hidden_size ** 0.5)
    final_embedding = torch.zeros_like(inputs_embeds)

    text_mask = (input_ids != image_token_index) & (input_ids != pad_token_id)
    image_mask = input_ids == image_token_index
    pad_mask = input_ids == pad_token_id

    embed_dim = inputs_embeds.shape[-1]
    final_embedding = torch.where(text_mask.unsqueeze(-1).expand(-1, -1, embed_dim), inputs_embeds, final_embedding)
    # masked_scatter fills the True positions in row-major order: image feature i goes to the i-th <image> row.
    final_embedding = final_embedding.masked_scatter(image_mask.unsqueeze(-1).expand_as(final_embedding),
                                                     scaled_image_features)
    final_embedding = torch.where(pad_mask.unsqueeze(-1).expand(-1, -1, embed_dim),
                                  torch.zeros_like(final_embedding), final_embedding)
    return final_embedding


def build_prefix_lm_mask(prefix_length: int, past_length: int, num_queries: int, num_keys: int) -> torch.Tensor:
    """Return the additive [T, S] mask: 0 where query t may attend to key s, -inf elsewhere.

    Query t sits at sequence position past_length + t. Keys 0 .. past_length + T - 1
    are written; later key slots (a preallocated cache) are never attended.
    The prefix (image tokens, <bos>, prompt, "\\n") is bidirectional. The
    suffix is causal and attends to the whole prefix.
    """
    query_position = past_length + torch.arange(num_queries).unsqueeze(1)  # [T, 1]
    key_position = torch.arange(num_keys).unsqueeze(0)                    # [1, S]
    written = key_position < past_length + num_queries
    visible = (key_position < prefix_length) | (key_position <= query_position)
    mask = torch.full((num_queries, num_keys), float("-inf"), dtype=torch.float32)
    return mask.masked_fill(written & visible, 0.0)


def build_position_ids(past_length: int, num_queries: int) -> torch.Tensor:
    """Return the 1-based positions [T] of the new tokens: past_length + 1 .. past_length + T.

    transformers >= 4.42 computes them as cache_position + 1 for PaliGemma.
    """
    return torch.arange(past_length + 1, past_length + num_queries + 1, dtype=torch.int64)


# ---------------------------------------------------------------------------
# The whole model: configuration, PaliGemmaForConditionalGeneration, generation.
# ---------------------------------------------------------------------------
# Defaults that transformers 4.42 to 4.48 uses for fields a config.json leaves out.
# text_config fields fall back to GemmaConfig's defaults (Gemma-7B sizes),
# vision_config fields to SiglipVisionConfig's (a base-size tower).
HF_GEMMA_DEFAULTS = dict(vocab_size=256000, hidden_size=3072, intermediate_size=24576, num_hidden_layers=28,
                         num_attention_heads=16, num_key_value_heads=16, head_dim=256,
                         max_position_embeddings=8192, rms_norm_eps=1e-6, rope_theta=10000.0,
                         pad_token_id=0, eos_token_id=1, bos_token_id=2)
HF_SIGLIP_DEFAULTS = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                          num_channels=3, image_size=224, patch_size=16, layer_norm_eps=1e-6)


class PaliGemmaConfig:
    """Top-level fields of a PaliGemma config.json plus its text and vision configs."""

    def __init__(self, text_config: GemmaConfig, vision_config: SiglipVisionConfig,
                 image_token_index: int = 256000, projection_dim: int = 2048, hidden_size: int = 2048,
                 pad_token_id: Optional[int] = None, bos_token_id: int = 2, eos_token_id: int = 1) -> None:
        self.text_config = text_config
        self.vision_config = vision_config
        self.image_token_index = image_token_index
        self.projection_dim = projection_dim
        self.hidden_size = hidden_size
        self.pad_token_id = pad_token_id
        self.bos_token_id = bos_token_id
        self.eos_token_id = eos_token_id

    @classmethod
    def from_dict(cls, data: Dict) -> "PaliGemmaConfig":
        if data.get("model_type") != "paligemma":
            raise ValueError(f"model_type {data.get('model_type')!r}: only 'paligemma' is supported")
        text = dict(data.get("text_config") or {})
        if text.get("model_type", "gemma") != "gemma":
            raise ValueError(f"text_config.model_type {text['model_type']!r}: only 'gemma' (PaliGemma 1)")
        # A field that is absent or null takes transformers' default.
        text_fields = {k: v if text.get(k) is None else text[k] for k, v in HF_GEMMA_DEFAULTS.items()}
        vision = dict(data.get("vision_config") or {})
        if vision.get("model_type", "siglip_vision_model") != "siglip_vision_model":
            raise ValueError(f"vision_config.model_type {vision['model_type']!r}: only 'siglip_vision_model'")
        vision_fields = {k: v if vision.get(k) is None else vision[k] for k, v in HF_SIGLIP_DEFAULTS.items()}
        return cls(GemmaConfig(**text_fields), SiglipVisionConfig(**vision_fields),
                   image_token_index=data.get("image_token_index", 256000),
                   projection_dim=data.get("projection_dim", 2048),
                   hidden_size=data.get("hidden_size", 2048),
                   pad_token_id=data.get("pad_token_id"),
                   bos_token_id=data.get("bos_token_id", 2),
                   eos_token_id=data.get("eos_token_id", 1))

    @classmethod
    def from_json_file(cls, path: str) -> "PaliGemmaConfig":
        with open(path, encoding="utf-8") as f:
            return cls.from_dict(json.load(f))


class PaliGemmaForConditionalGeneration(nn.Module):
    """SigLIP tower, projector, merge and Gemma, with Hugging Face's parameter names.

    state_dict() keys are those of the published checkpoints (older scheme):
    vision_tower.vision_model.*, multi_modal_projector.linear.*, language_model.model.*.
    The language-model head is tied to embed_tokens, so no lm_head is stored.
    """

    def __init__(self, config: PaliGemmaConfig) -> None:
        super().__init__()
        self.config = config
        self.vision_tower = SiglipVisionModel(config.vision_config)
        self.multi_modal_projector = PaliGemmaMultiModalProjector(config.vision_config.hidden_size,
                                                                  config.projection_dim)
        self.language_model = GemmaForCausalLM(config.text_config)

    def forward(self, input_ids: torch.Tensor, pixel_values: Optional[torch.Tensor],
                attention_mask: Optional[torch.Tensor], position_ids: torch.Tensor,
                kv_cache: KVCache, activations: Optional[Dict[str, torch.Tensor]] = None) -> torch.Tensor:
        """Return logits [B, T, V] for input_ids [B, T]; fill `activations` with named stages.

        pixel_values [B, 3, I, I] is given on the prefill pass only: the image
        tower runs once per request and later passes are text only.
        """
        inputs_embeds = self.language_model.model.embed_tokens(input_ids)
        if pixel_values is not None:
            stages: List[torch.Tensor] = []
            vision_output = self.vision_tower(pixel_values, stages)
            image_features = self.multi_modal_projector(vision_output)
            pad_token_id = self.config.pad_token_id if self.config.pad_token_id is not None else -1
            inputs_embeds = _merge_input_ids_with_image_features(
                image_features, inputs_embeds, input_ids, self.config.text_config.hidden_size,
                self.config.image_token_index, pad_token_id)
            if activations is not None:
                activations["vision.embeddings"] = stages[0]
                for i, stage in enumerate(stages[1:-1]):
                    activations[f"vision.layer_{i}"] = stage
                activations["vision.post_layernorm"] = stages[-1]
                activations["projector"] = image_features
                activations["merged_embeddings"] = inputs_embeds
        logits, layer_boundaries = self.language_model(inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                                                        position_ids=position_ids, kv_cache=kv_cache)
        if activations is not None:
            for i, boundary in enumerate(layer_boundaries):
                activations[f"text.layer_{i}"] = boundary
            activations["final_norm"] = self.language_model.model.norm(layer_boundaries[-1])
        return logits


def load_paligemma(folder: str) -> Tuple[PaliGemmaForConditionalGeneration, List[str]]:
    """Build the model from config.json and the safetensors files of a checkpoint folder.

    Each stored tensor is converted to float32 straight into its parameter, one
    at a time, so that paligemma-3b-pt-224 (11.7 GB in float32) needs one copy
    of its weights in memory, not two.
    """
    from safetensors_io import checkpoint_files, iter_checkpoint
    config = PaliGemmaConfig.from_json_file(os.path.join(folder, "config.json"))
    model = PaliGemmaForConditionalGeneration(config)
    parameters = dict(model.named_parameters())
    loaded, unexpected = set(), []
    with torch.no_grad():
        for name, tensor in iter_checkpoint(folder):
            # The newer transformers layout renames the prefixes; map it back to this one.
            for newer, older in (("model.language_model.", "language_model.model."),
                                 ("model.vision_tower.", "vision_tower."),
                                 ("model.multi_modal_projector.", "multi_modal_projector.")):
                if name.startswith(newer):
                    name = older + name[len(newer):]
            if name in ("lm_head.weight", "language_model.lm_head.weight"):
                continue
            if name not in parameters:
                unexpected.append(name)
                continue
            if parameters[name].shape != tensor.shape:
                raise ValueError(f"{folder}: tensor {name} has shape {list(tensor.shape)}, "
                                 f"expected {list(parameters[name].shape)}")
            parameters[name].copy_(tensor)
            loaded.add(name)
    missing = [name for name in parameters if name not in loaded]
    if missing or unexpected:
        raise ValueError(f"{folder}: missing tensors {missing[:5]}, unexpected tensors {unexpected[:5]}")
    return model.eval(), checkpoint_files(folder)


def generate_greedy(model: PaliGemmaForConditionalGeneration, input_ids: torch.Tensor,
                    pixel_values: torch.Tensor, max_new_tokens: int,
                    activations: Optional[Dict[str, torch.Tensor]] = None
                    ) -> Tuple[List[int], List[torch.Tensor]]:
    """Prefill the prompt, then decode one token per step; stop at eos or max_new_tokens.

    The prefill mask is all zeros: the whole prompt is the prefix and attends
    both ways. Positions are 1-based. Returns the generated ids (eos included
    when reached) and the logits [V] that chose each of them.
    """
    eos = model.config.eos_token_id
    kv_cache = KVCache()
    num_prompt = input_ids.shape[1]
    position_ids = torch.arange(1, num_prompt + 1).unsqueeze(0)
    mask = torch.zeros(1, 1, num_prompt, num_prompt)
    with torch.no_grad():
        logits = model(input_ids, pixel_values, mask, position_ids, kv_cache, activations)
    if activations is not None:
        activations["prefill_logits"] = logits
    generated: List[int] = []
    step_logits: List[torch.Tensor] = []
    next_logits = logits[0, -1]
    for step in range(max_new_tokens):
        token = int(torch.argmax(next_logits))  # the first index on ties
        generated.append(token)
        step_logits.append(next_logits)
        if token == eos:
            break
        past = kv_cache.num_items()
        position_ids = torch.tensor([[past + 1]])
        mask = torch.zeros(1, 1, 1, past + 1)
        with torch.no_grad():
            next_logits = model(torch.tensor([[token]]), None, mask, position_ids, kv_cache)[0, -1]
    return generated, step_logits
