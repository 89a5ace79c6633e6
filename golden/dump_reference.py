#!/usr/bin/python3
"""Dump every intermediate tensor of one PaliGemma request from the PyTorch reference.

    /usr/bin/python3 golden/dump_reference.py --model DIR --image FILE --prompt TEXT \\
        --dump-activations OUT [--max-tokens N]

The options are those of `build/paligemma`, and the output is the format that
`paligemma --dump-activations` writes (chapters/12_paligemma/activation_dump.h):
OUT/<name>.npy per tensor and OUT/index.txt listing "name dtype shape" in the
order computed. `build/paligemma-compare C_DUMP OUT` then compares the two
tensor by tensor (docs/numerics.md).

The model is our reference (modeling_paligemma.py), in float32 on the CPU,
with weights converted from the checkpoint's F32, BF16 or F16 tensors, one at
a time, so paligemma-3b-pt-224 needs about 12 GB of memory. Greedy decoding
only: the dump is for comparing numerics, not for sampling.
Needs torch, numpy, Pillow and sentencepiece (Debian: python3-torch,
python3-numpy, python3-pil, python3-sentencepiece).
"""
import argparse
import os
import sys
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from modeling_paligemma import PaliGemmaForConditionalGeneration, generate_greedy, load_paligemma  # noqa: E402
from processing_paligemma import paligemma_prompt_ids, siglip_preprocess  # noqa: E402

INDEX_NAME = "index.txt"
INDEX_HEADER = "# paligemma activation dump: name dtype shape, in the order computed\n"


def request_inputs(model: PaliGemmaForConditionalGeneration, model_folder: str, image: Optional[str],
                   prompt: Optional[str], pixel_values_path: Optional[str],
                   input_ids_text: Optional[str]) -> Tuple[np.ndarray, List[int]]:
    """Return pixel_values [3, I, I] float32 and the prompt ids, as the C program builds them."""
    config = model.config
    size = config.vision_config.image_size
    if image is not None:
        _, _, pixel_values = siglip_preprocess(image, size)
    else:
        pixel_values = np.load(pixel_values_path)
        if pixel_values.dtype != np.float32 or pixel_values.shape != (3, size, size):
            raise SystemExit(f"{pixel_values_path}: expected float32 pixel values of shape (3, {size}, {size}), "
                             f"found {pixel_values.dtype} {pixel_values.shape}")
    if prompt is not None:
        import sentencepiece as spm
        tokenizer = spm.SentencePieceProcessor(model_file=os.path.join(model_folder, "tokenizer.model"))
        input_ids = paligemma_prompt_ids(tokenizer, prompt, config.image_token_index,
                                         config.vision_config.num_patches)
    else:
        input_ids = [int(text) for text in input_ids_text.split(",")]
    return np.ascontiguousarray(pixel_values, dtype=np.float32), input_ids


def attention_outputs(model: PaliGemmaForConditionalGeneration) -> Tuple[Dict[int, torch.Tensor], list]:
    """Record each Gemma layer's attention output (o_proj, before the residual add) of the first pass.

    Returns the dict that fills up and the hook handles to remove afterwards.
    Decode steps run the same modules again; only the prefill is kept.
    """
    outputs: Dict[int, torch.Tensor] = {}
    handles = []
    for layer_idx, layer in enumerate(model.language_model.model.layers):
        def keep_first(module, inputs, output, layer_idx=layer_idx):
            outputs.setdefault(layer_idx, output.detach())
        handles.append(layer.self_attn.register_forward_hook(keep_first))
    return outputs, handles


def run_reference(model: PaliGemmaForConditionalGeneration, pixel_values: np.ndarray, input_ids: List[int],
                  max_new_tokens: int) -> List[Tuple[str, np.ndarray]]:
    """Run one greedy request; return (name, array) for every tensor, in the order computed.

    The names and shapes are those of the C program's dump: the batch
    dimension is dropped, and each decode step's logits are [1, V].
    """
    activations: Dict[str, torch.Tensor] = {}
    attention, handles = attention_outputs(model)
    pixels = torch.from_numpy(pixel_values).unsqueeze(0)
    ids, step_logits = generate_greedy(model, torch.tensor([input_ids]), pixels, max_new_tokens, activations)
    for handle in handles:
        handle.remove()

    def array(tensor: torch.Tensor) -> np.ndarray:
        return np.ascontiguousarray(tensor.detach().numpy(), dtype=np.float32)

    tensors = [("pixel_values", pixel_values), ("input_ids", np.asarray(input_ids, dtype=np.int64)),
               ("vision_embeddings", array(activations["vision.embeddings"][0]))]
    for layer_idx in range(model.config.vision_config.num_hidden_layers):
        tensors.append((f"vision_layer_{layer_idx}", array(activations[f"vision.layer_{layer_idx}"][0])))
    tensors.append(("vision_post_layernorm", array(activations["vision.post_layernorm"][0])))
    tensors.append(("projector", array(activations["projector"][0])))
    tensors.append(("merged_embeddings", array(activations["merged_embeddings"][0])))
    num_text_layers = model.config.text_config.num_hidden_layers
    for layer_idx in range(num_text_layers):
        tensors.append((f"text_layer_{layer_idx}", array(activations[f"text.layer_{layer_idx}"][0])))
        tensors.append((f"text_layer_{layer_idx}_attention", array(attention[layer_idx][0])))
    tensors.append((f"text_layer_{num_text_layers}", array(activations[f"text.layer_{num_text_layers}"][0])))
    tensors.append(("final_norm", array(activations["final_norm"][0])))
    tensors.append(("prefill_logits", array(activations["prefill_logits"][0])))
    for step, logits in enumerate(step_logits):
        tensors.append((f"step_logits_{step}", array(logits).reshape(1, -1)))
    tensors.append(("generated_ids", np.asarray(ids, dtype=np.int64)))
    return tensors


def write_dump(folder: str, tensors: List[Tuple[str, np.ndarray]]) -> None:
    """Write <folder>/<name>.npy for each tensor and index.txt in the same order."""
    os.makedirs(folder, exist_ok=True)
    lines = [INDEX_HEADER]
    for name, value in tensors:
        np.save(os.path.join(folder, name + ".npy"), value)
        lines.append(f"{name} {value.dtype} {','.join(str(d) for d in value.shape)}\n")
    with open(os.path.join(folder, INDEX_NAME), "w", encoding="utf-8") as f:
        f.writelines(lines)


def dump_reference(model_folder: str, out_folder: str, image: Optional[str] = None, prompt: Optional[str] = None,
                   pixel_values: Optional[str] = None, input_ids: Optional[str] = None,
                   max_new_tokens: int = 32) -> List[int]:
    """Load a checkpoint, run one request and write its dump; return the generated ids."""
    model, _ = load_paligemma(model_folder)
    pixels, ids = request_inputs(model, model_folder, image, prompt, pixel_values, input_ids)
    tensors = run_reference(model, pixels, ids, max_new_tokens)
    write_dump(out_folder, tensors)
    return [int(i) for i in tensors[-1][1]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="checkpoint folder (config.json, model.safetensors or "
                        "shards with model.safetensors.index.json, tokenizer.model)")
    pixels = parser.add_mutually_exclusive_group(required=True)
    pixels.add_argument("--image", help="image file, preprocessed as SiglipImageProcessor does (Pillow bicubic)")
    pixels.add_argument("--pixel-values", help="preprocessed pixels: float32 .npy of shape [3, I, I]")
    prompt = parser.add_mutually_exclusive_group(required=True)
    prompt.add_argument("--prompt", help='task prompt, e.g. "caption en"; image tokens, <bos> and "\\n" are added')
    prompt.add_argument("--input-ids", help="the whole prompt as comma-separated token ids")
    parser.add_argument("--max-tokens", type=int, default=32, help="most tokens to generate (default 32)")
    parser.add_argument("--dump-activations", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (default: torch's choice; 1 gives reproducible bytes)")
    args = parser.parse_args()
    if args.max_tokens < 1:
        parser.error("--max-tokens must be at least 1")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    ids = dump_reference(args.model, args.dump_activations, args.image, args.prompt, args.pixel_values,
                         args.input_ids, args.max_tokens)
    print(f"wrote {args.dump_activations}/{INDEX_NAME}; generated ids {' '.join(str(i) for i in ids)}")


if __name__ == "__main__":
    main()
