#!/usr/bin/python3
"""Write a random checkpoint with the exact shapes of paligemma-3b-pt-224.

    /usr/bin/python3 golden/bench/make_checkpoint.py [FOLDER]

The folder (default ~/.cache/paligemma-c/bench-3b-pt-224) gets config.json,
three bfloat16 shards model-0000N-of-00003.safetensors (about 5.9 GB in all)
and model.safetensors.index.json, as Hugging Face publishes the real model.
It has no tokenizer.model: the benchmark feeds token ids. The
weights are normal with std 0.02 (norm weights zero, biases zero), drawn
tensor by tensor from a fixed seed so that memory stays small. It is a
benchmark input, never committed: only its shapes are real.
"""
import json
import os
import struct
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from gen_12_paligemma import PALIGEMMA_3B_PT_224  # noqa: E402

NUM_SHARDS = 3
DEFAULT_FOLDER = os.path.expanduser("~/.cache/paligemma-c/bench-3b-pt-224")


def tensor_shapes(config: dict):
    """Return [(name, shape)] of every tensor, older naming scheme, lm_head tied."""
    text, vision = config["text_config"], config["vision_config"]
    D, F, V = text["hidden_size"], text["intermediate_size"], text["vocab_size"]
    H, K, Dh = text["num_attention_heads"], text["num_key_value_heads"], text.get("head_dim", 256)
    E, FV, p = vision["hidden_size"], vision["intermediate_size"], vision["patch_size"]
    P = (vision.get("image_size", 224) // p) ** 2
    shapes = []
    v = "vision_tower.vision_model"
    shapes += [(f"{v}.embeddings.patch_embedding.weight", (E, 3, p, p)),
               (f"{v}.embeddings.patch_embedding.bias", (E,)),
               (f"{v}.embeddings.position_embedding.weight", (P, E))]
    for layer in range(vision["num_hidden_layers"]):
        prefix = f"{v}.encoder.layers.{layer}"
        for norm in ("layer_norm1", "layer_norm2"):
            shapes += [(f"{prefix}.{norm}.weight", (E,)), (f"{prefix}.{norm}.bias", (E,))]
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            shapes += [(f"{prefix}.self_attn.{proj}.weight", (E, E)), (f"{prefix}.self_attn.{proj}.bias", (E,))]
        shapes += [(f"{prefix}.mlp.fc1.weight", (FV, E)), (f"{prefix}.mlp.fc1.bias", (FV,)),
                   (f"{prefix}.mlp.fc2.weight", (E, FV)), (f"{prefix}.mlp.fc2.bias", (E,))]
    shapes += [(f"{v}.post_layernorm.weight", (E,)), (f"{v}.post_layernorm.bias", (E,)),
               ("multi_modal_projector.linear.weight", (D, E)), ("multi_modal_projector.linear.bias", (D,)),
               ("language_model.model.embed_tokens.weight", (V, D))]
    for layer in range(text["num_hidden_layers"]):
        prefix = f"language_model.model.layers.{layer}"
        shapes += [(f"{prefix}.input_layernorm.weight", (D,)),
                   (f"{prefix}.self_attn.q_proj.weight", (H * Dh, D)),
                   (f"{prefix}.self_attn.k_proj.weight", (K * Dh, D)),
                   (f"{prefix}.self_attn.v_proj.weight", (K * Dh, D)),
                   (f"{prefix}.self_attn.o_proj.weight", (D, H * Dh)),
                   (f"{prefix}.post_attention_layernorm.weight", (D,)),
                   (f"{prefix}.mlp.gate_proj.weight", (F, D)),
                   (f"{prefix}.mlp.up_proj.weight", (F, D)),
                   (f"{prefix}.mlp.down_proj.weight", (D, F))]
    shapes.append(("language_model.model.norm.weight", (D,)))
    return shapes


def write_shard(path: str, entries, generator: torch.Generator) -> None:
    """Write one bfloat16 shard, generating each tensor just before its bytes."""
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, shape in entries:
        size = 2 * int(torch.Size(shape).numel())
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for name, shape in entries:
            if len(shape) == 1:
                tensor = torch.zeros(shape, dtype=torch.bfloat16)
            else:
                tensor = (torch.randn(shape, generator=generator) * 0.02).to(torch.bfloat16)
            f.write(tensor.view(torch.int16).numpy().tobytes())


def main() -> None:
    folder = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_FOLDER
    os.makedirs(folder, exist_ok=True)
    config = dict(PALIGEMMA_3B_PT_224, torch_dtype="bfloat16")
    shapes = tensor_shapes(config)

    # Split into shards of about equal bytes, keeping the tensor order.
    total = sum(2 * int(torch.Size(s).numel()) for _, s in shapes)
    shards, current, current_bytes = [], [], 0
    for name, shape in shapes:
        current.append((name, shape))
        current_bytes += 2 * int(torch.Size(shape).numel())
        if current_bytes >= total / NUM_SHARDS and len(shards) < NUM_SHARDS - 1:
            shards.append(current)
            current, current_bytes = [], 0
    shards.append(current)

    generator = torch.Generator().manual_seed(10)
    weight_map = {}
    for i, entries in enumerate(shards):
        file_name = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        print(f"writing {file_name}: {len(entries)} tensors", flush=True)
        write_shard(os.path.join(folder, file_name), entries, generator)
        weight_map.update({name: file_name for name, _ in entries})

    with open(os.path.join(folder, "model.safetensors.index.json"), "w", encoding="utf-8") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2, sort_keys=True)
    with open(os.path.join(folder, "config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    print(f"{folder}: {len(shapes)} tensors, {total / 1e9:.2f} GB of bfloat16 weights")


if __name__ == "__main__":
    main()
