"""PyTorch reference for the parts of PaliGemma between the two towers, float32 on the CPU.

PaliGemmaMultiModalProjector maps SigLIP's image features into Gemma's
embedding space; _merge_input_ids_with_image_features puts them into the
rows of the text sequence that hold the <image> token. The names follow
Hugging Face transformers 4.42 to 4.48 and the educational PyTorch rewrite of
PaliGemma. The two helpers after them build the prefix-LM attention mask and
the 1-based position ids that transformers computes inside the model's forward.
Tensors carry a batch dimension B, which the golden scripts set to 1.
"""
import torch
from torch import nn


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
