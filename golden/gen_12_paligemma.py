"""Golden data for chapter 12: a tiny random PaliGemma, end to end.

The checkpoint has the real structure at toy size: SigLIP with 8-pixel
patches on 32-pixel images (16 image tokens), a projector, and a 2-layer Gemma
with multi-query attention and head_dim 24, which is not hidden / heads. Its
vocabulary is the test tokenizer of chapter 14 plus <image>, padded to a
multiple of 64 rows as the published checkpoint pads 257153 to 257216.

It is saved in the Hugging Face layout in float32 (tiny_f32/) and in bfloat16
(tiny_bf16/), with config.json and tokenizer.model, and once more in float16
(tiny_f16/) for the numerics comparison. For float32 and bfloat16, the
reference loads the saved files back and runs one request. It dumps every stage:
the vision stages, projector, merged embeddings, every Gemma layer boundary,
the prefill logits, and the greedy ids with the logits of each decode step.

Random weights with the usual std 0.02 make a tiny model repeat one token,
which would prove little about the KV cache and positions, so the weights
here are scaled up (std 0.3) until greedy ids change from step to step.
"""
import json
import os
import shutil

import numpy as np
from PIL import Image
import sentencepiece as spm
import torch

from golden_io import GOLDEN_DIR, ChapterWriter, seed_everything
from modeling_gemma import GemmaConfig
from modeling_paligemma import (PaliGemmaConfig, PaliGemmaForConditionalGeneration, generate_greedy,
                                load_paligemma)
from modeling_siglip import SiglipVisionConfig
from processing_paligemma import paligemma_prompt_ids, siglip_preprocess
from safetensors_io import save_state_dict

CHAPTER = "12_paligemma"
TOKENIZER = os.path.join(GOLDEN_DIR, "14_tokenizer", "tokenizer.model")
PROMPT_TEXT = "caption en"
END_TO_END_PROMPT = "answer en what color is the square?"
MAX_NEW_TOKENS = 12
WEIGHT_STD = 0.3


def tiny_config_dict(vocab_pieces: int) -> dict:
    """Return the config.json of the tiny model, in the published checkpoints' form."""
    image_token_index = vocab_pieces
    vocab_size = (image_token_index + 1 + 63) // 64 * 64
    return {
        "architectures": ["PaliGemmaForConditionalGeneration"],
        "model_type": "paligemma",
        "bos_token_id": 2, "eos_token_id": 1, "pad_token_id": 0,
        "hidden_size": 64, "projection_dim": 64,
        "image_token_index": image_token_index,
        "torch_dtype": "float32",
        "text_config": {
            "model_type": "gemma", "hidden_size": 64, "intermediate_size": 128,
            "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 1,
            "head_dim": 24, "vocab_size": vocab_size, "num_image_tokens": 16,
        },
        "vision_config": {
            "model_type": "siglip_vision_model", "hidden_size": 48, "intermediate_size": 96,
            "num_hidden_layers": 2, "num_attention_heads": 4, "image_size": 32, "patch_size": 8,
            "projection_dim": 64, "num_image_tokens": 16,
        },
    }


# config.json of paligemma-3b-pt-224 as Hugging Face publishes it: head_dim,
# image_size and the norm epsilons are absent, so transformers' defaults apply.
PALIGEMMA_3B_PT_224 = {
    "architectures": ["PaliGemmaForConditionalGeneration"],
    "bos_token_id": 2, "eos_token_id": 1, "pad_token_id": 0, "hidden_size": 2048,
    "ignore_index": -100, "image_token_index": 257152, "model_type": "paligemma",
    "projection_dim": 2048, "torch_dtype": "float32", "transformers_version": "4.41.0.dev0",
    "text_config": {
        "hidden_size": 2048, "intermediate_size": 16384, "model_type": "gemma",
        "num_attention_heads": 8, "num_hidden_layers": 18, "num_image_tokens": 256,
        "num_key_value_heads": 1, "torch_dtype": "float32", "vocab_size": 257216,
    },
    "vision_config": {
        "hidden_size": 1152, "intermediate_size": 4304, "model_type": "siglip_vision_model",
        "num_attention_heads": 16, "num_hidden_layers": 27, "num_image_tokens": 256,
        "patch_size": 14, "projection_dim": 2048, "projector_hidden_act": "gelu_fast",
        "vision_use_head": False,
    },
}


def random_weights(model: torch.nn.Module) -> None:
    """Scaled-up random weights: matrices std 0.3, biases and norm weights std 0.1."""
    with torch.no_grad():
        for name, parameter in sorted(model.named_parameters()):
            std = WEIGHT_STD if parameter.dim() >= 2 else 0.1
            parameter.copy_(torch.randn(parameter.shape) * std)


def save_checkpoint(folder: str, config_dict: dict, model: torch.nn.Module, dtype: torch.dtype) -> None:
    os.makedirs(folder, exist_ok=True)
    dtype_names = {torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}
    config_dict = dict(config_dict, torch_dtype=dtype_names[dtype])
    with open(os.path.join(folder, "config.json"), "w", encoding="utf-8") as f:
        json.dump(config_dict, f, indent=2, sort_keys=True)
        f.write("\n")
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("language_model.lm_head")}
    save_state_dict(os.path.join(folder, "model.safetensors"), state, dtype)
    shutil.copyfile(TOKENIZER, os.path.join(folder, "tokenizer.model"))


def dump_request(out: ChapterWriter, prefix: str, folder: str, input_ids: list, pixel_values: torch.Tensor) -> list:
    """Load the checkpoint back from disk, run the request, save every stage as <prefix>_<name>."""
    model, _ = load_paligemma(folder)
    activations = {}
    ids, step_logits = generate_greedy(model, torch.tensor([input_ids]), pixel_values, MAX_NEW_TOKENS, activations)
    for name, tensor in activations.items():
        out.save(f"{prefix}_{name.replace('.', '_')}", tensor[0])
    out.save(f"{prefix}_generated_ids", ids, dtype="<i8")
    out.save(f"{prefix}_step_logits", torch.stack(step_logits))
    return ids


def generate() -> None:
    seed_everything(12)
    out = ChapterWriter(CHAPTER)
    tokenizer = spm.SentencePieceProcessor(model_file=TOKENIZER)
    config_dict = tiny_config_dict(tokenizer.get_piece_size())
    config = PaliGemmaConfig.from_dict(config_dict)
    model = PaliGemmaForConditionalGeneration(config)
    random_weights(model)

    input_ids = paligemma_prompt_ids(tokenizer, PROMPT_TEXT, config.image_token_index,
                                     config.vision_config.num_patches)
    pixel_values = torch.rand(1, 3, 32, 32) * 2 - 1
    out.save("input_ids", input_ids, dtype="<i8")
    out.save("pixel_values", pixel_values[0])

    with open(os.path.join(out.folder, "paligemma-3b-pt-224.json"), "w", encoding="utf-8") as f:
        json.dump(PALIGEMMA_3B_PT_224, f, indent=2, sort_keys=True)
        f.write("\n")

    for prefix, dtype in (("f32", torch.float32), ("bf16", torch.bfloat16)):
        folder = os.path.join(out.folder, f"tiny_{prefix}")
        save_checkpoint(folder, config_dict, model, dtype)
        ids = dump_request(out, prefix, folder, input_ids, pixel_values)
        # The test relies on at least 10 decode steps with ids that change.
        if len(ids) < 10 or len(set(ids)) < 3:
            raise RuntimeError(f"{prefix}: greedy ids {ids} stop early or repeat; change the seed")
        print(f"  {prefix}: greedy ids {ids}")
    # A float16 copy for the numerics comparison (gen_numerics_compare.py dumps its request).
    save_checkpoint(os.path.join(out.folder, "tiny_f16"), config_dict, model, torch.float16)

    end_to_end(out, tokenizer, config)


def end_to_end(out: ChapterWriter, tokenizer: spm.SentencePieceProcessor, config: PaliGemmaConfig) -> None:
    """A PNG and a text prompt through the whole Python pipeline, for the paligemma command.

    The image is 45 x 30, so the resize to 32 x 32 enlarges one side and
    shrinks the other. The expected ids come from the float32 checkpoint.
    """
    rng = np.random.default_rng(1212)
    pixels = rng.integers(0, 256, size=(30, 45, 3), dtype=np.uint8)
    pixels[:, :15, 0] = 250  # a red band on the left, so the image is not symmetric
    path = os.path.join(out.folder, "photo.png")
    Image.fromarray(pixels, "RGB").save(path, optimize=False)

    _, _, pixel_values = siglip_preprocess(path, config.vision_config.image_size)
    input_ids = paligemma_prompt_ids(tokenizer, END_TO_END_PROMPT, config.image_token_index,
                                     config.vision_config.num_patches)
    model, _ = load_paligemma(os.path.join(out.folder, "tiny_f32"))
    ids, _ = generate_greedy(model, torch.tensor([input_ids]), torch.from_numpy(pixel_values).unsqueeze(0),
                             MAX_NEW_TOKENS)
    out.save("photo_input_ids", input_ids, dtype="<i8")
    out.save("photo_generated_ids", ids, dtype="<i8")
    print(f"  photo.png, {END_TO_END_PROMPT!r}: greedy ids {ids}")
