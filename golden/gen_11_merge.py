"""Golden data for chapter 11: merging image features into the text embeddings,
the prefix-LM attention mask and the 1-based position ids.

Cases:
- small: vocabulary 20, width 32, <image> = 17, pad = 0, bos = 2;
  ids [17 x 4, 2, 5, 9, 10, 0] (four image rows, bos, prompt, "\\n", one pad).
- width_2048: vocabulary 16, width 2048 (Gemma-2B's), <image> = 15;
  ids [15 x 4, 2, 7, 11, 9]. Also written after GemmaModel's normalizer,
  hidden_states * torch.tensor(2048 ** 0.5, dtype=float32), so the C test
  can check that the image rows come back to the projector output.
- masks from build_prefix_lm_mask: a prefill (prefix 5, 7 tokens), a decode
  step (past 7, 1 token) and a step into a preallocated cache of 12 slots.
- position ids for the prefill and the decode step.
"""
import torch

from golden_io import ChapterWriter, seed_everything
from modeling_paligemma import _merge_input_ids_with_image_features, build_position_ids, build_prefix_lm_mask

PAD_TOKEN_ID = 0
BOS_TOKEN_ID = 2


def write_merge(out: ChapterWriter, name: str, vocab_size: int, hidden_size: int, image_token_index: int,
                ids: list, normalized: bool) -> None:
    input_ids = torch.tensor([ids], dtype=torch.int64)
    num_image_tokens = ids.count(image_token_index)
    embed_tokens = torch.nn.Embedding(vocab_size, hidden_size)
    with torch.no_grad():
        embed_tokens.weight.copy_(torch.randn(vocab_size, hidden_size))
        image_features = torch.randn(1, num_image_tokens, hidden_size)
        inputs_embeds = embed_tokens(input_ids)
        merged = _merge_input_ids_with_image_features(image_features, inputs_embeds, input_ids, hidden_size,
                                                      image_token_index, PAD_TOKEN_ID)
    out.save(f"{name}_input_ids", input_ids[0], dtype="int64")
    out.save(f"{name}_embed_tokens", embed_tokens.weight)
    out.save(f"{name}_image_features", image_features[0])
    out.save(f"{name}_merged", merged[0])
    if normalized:
        # GemmaModel.forward: the normalizer is a float32 tensor, so this is one float32 product per element.
        normalizer = torch.tensor(hidden_size ** 0.5, dtype=merged.dtype)
        out.save(f"{name}_normalized", (merged * normalizer)[0])


def generate() -> None:
    seed_everything(11)
    out = ChapterWriter("11_merge")
    write_merge(out, "small", 20, 32, 17, [17, 17, 17, 17, BOS_TOKEN_ID, 5, 9, 10, PAD_TOKEN_ID], False)
    write_merge(out, "width_2048", 16, 2048, 15, [15, 15, 15, 15, BOS_TOKEN_ID, 7, 11, 9], True)

    out.save("mask_prefill", build_prefix_lm_mask(5, 0, 7, 7))
    out.save("mask_decode", build_prefix_lm_mask(5, 7, 1, 8))
    out.save("mask_preallocated", build_prefix_lm_mask(5, 6, 2, 12))
    out.save("position_ids_prefill", build_position_ids(0, 7), dtype="int64")
    out.save("position_ids_decode", build_position_ids(7, 1), dtype="int64")
