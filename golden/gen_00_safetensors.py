"""Fixtures for the safetensors reader test (common/safetensors.c).

The .safetensors files are written here with struct and json only, byte for
byte the same on every run. Each is an 8-byte little-endian header size, then
the JSON header padded with spaces to a multiple of 8 bytes (as
huggingface/safetensors pads it), then the tensor bytes in the order listed. The expected float32
values come from numpy's and torch's own conversions of the same bits.

    single/       model.safetensors: F32, BF16 and F16 tensors, including all
                  65536 BF16 and all 65536 F16 bit patterns
    sharded/      two shards and model.safetensors.index.json
    names_older/  a tiny PaliGemma under the older names, lm_head tied (absent)
    names_newer/  the same tensors under the newer names, with lm_head.weight
"""
import json
import os

import numpy as np
import torch

from golden_io import GOLDEN_DIR, ChapterWriter, seed_everything
from safetensors_io import write_safetensors

CHAPTER = "00_safetensors"
FOLDER = os.path.join(GOLDEN_DIR, CHAPTER)


def f32_entry(name: str, array: np.ndarray):
    array = np.array(array, dtype="<f4", order="C")  # keeps a 0-d shape, unlike ascontiguousarray
    return (name, "F32", array.shape, array.tobytes())


def bits16_entry(name: str, dtype: str, bits: np.ndarray):
    bits = np.ascontiguousarray(bits, dtype="<u2")
    return (name, dtype, bits.shape, bits.tobytes())


def bf16_to_f32(bits: np.ndarray) -> np.ndarray:
    """torch's bfloat16 -> float32, checked against the definition bits << 16."""
    flat = torch.from_numpy(bits.astype(np.uint16).view(np.int16).reshape(-1).copy())
    out = flat.view(torch.bfloat16).float().numpy().reshape(bits.shape)
    assert np.array_equal(out.view(np.uint32), bits.astype(np.uint32) << 16)
    return out


def f16_to_f32(bits: np.ndarray) -> np.ndarray:
    """numpy's float16 -> float32, checked against torch's conversion.

    The two agree on every pattern except signaling NaNs (exponent 31, top
    mantissa bit 0, mantissa not 0): torch sets the quiet bit 0x00400000 there
    and numpy keeps the payload as it is. The C reader follows numpy.
    """
    half = bits.astype(np.uint16)
    out = half.view(np.float16).astype(np.float32)
    by_torch = torch.from_numpy(half.view(np.int16).reshape(-1).copy()).view(torch.float16).float()
    by_torch = by_torch.numpy().reshape(bits.shape).view(np.uint32)
    ours = out.view(np.uint32)
    signaling = ((half & 0x7C00) == 0x7C00) & ((half & 0x0200) == 0) & ((half & 0x03FF) != 0)
    assert np.array_equal(ours[~signaling], by_torch[~signaling])
    assert np.array_equal(ours[signaling] | 0x00400000, by_torch[signaling])
    return out


def single_file(writer: ChapterWriter) -> None:
    all_bits = np.arange(65536, dtype=np.uint32).astype(np.uint16).reshape(256, 256)
    f32_matrix = (torch.randn(3, 4) * 3).numpy()
    special_bits = np.array([0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00001,
                             0x00000001, 0x7F7FFFFF], dtype=np.uint32)
    f32_special = special_bits.view(np.float32)
    f32_scalar = np.array(2.5, dtype=np.float32)
    f32_empty = np.zeros((0, 4), dtype=np.float32)
    bf16_weight = torch.randn(4, 6).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
    f16_weight = torch.randn(4, 6).to(torch.float16).view(torch.int16).numpy().view(np.uint16)

    # Data offsets follow this list, which is not in name order on purpose.
    tensors = [
        f32_entry("f32_matrix", f32_matrix),
        bits16_entry("bf16_all", "BF16", all_bits),
        f32_entry("f32_special", f32_special),
        bits16_entry("f16_all", "F16", all_bits),
        f32_entry("f32_scalar", f32_scalar),
        bits16_entry("bf16_weight", "BF16", bf16_weight),
        f32_entry("f32_empty", f32_empty),
        bits16_entry("f16_weight", "F16", f16_weight),
    ]
    write_safetensors(os.path.join(FOLDER, "single", "model.safetensors"), tensors, {"format": "pt"})

    writer.save("single_f32_matrix", f32_matrix)
    writer.save("single_f32_special", f32_special)
    writer.save("single_f32_scalar", f32_scalar)
    writer.save("single_bf16_all", bf16_to_f32(all_bits))
    writer.save("single_f16_all", f16_to_f32(all_bits))
    writer.save("single_bf16_weight", bf16_to_f32(bf16_weight))
    writer.save("single_f16_weight", f16_to_f32(f16_weight))


def sharded(writer: ChapterWriter) -> None:
    encoder_weight = torch.randn(3, 5).numpy()
    encoder_bias = torch.randn(7).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
    decoder_weight = torch.randn(2, 2, 3).to(torch.float16).view(torch.int16).numpy().view(np.uint16)
    decoder_norm = torch.randn(5).numpy()
    shards = {
        "model-00001-of-00002.safetensors": [
            f32_entry("encoder.weight", encoder_weight),
            bits16_entry("encoder.bias", "BF16", encoder_bias),
        ],
        "model-00002-of-00002.safetensors": [
            bits16_entry("decoder.weight", "F16", decoder_weight),
            f32_entry("decoder.norm.weight", decoder_norm),
        ],
    }
    folder = os.path.join(FOLDER, "sharded")
    weight_map = {}
    total_size = 0
    for file_name, tensors in shards.items():
        write_safetensors(os.path.join(folder, file_name), tensors, {"format": "pt"})
        for name, _, _, raw in tensors:
            weight_map[name] = file_name
            total_size += len(raw)
    index = {"metadata": {"total_size": total_size}, "weight_map": dict(sorted(weight_map.items()))}
    with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
        f.write(json.dumps(index, indent=2) + "\n")

    writer.save("sharded_encoder_weight", encoder_weight)
    writer.save("sharded_encoder_bias", bf16_to_f32(encoder_bias))
    writer.save("sharded_decoder_weight", f16_to_f32(decoder_weight))
    writer.save("sharded_decoder_norm_weight", decoder_norm)


# A few tensors of a tiny PaliGemma, by their older (canonical) name. The
# expected .npy file of each is names_<short>.npy.
TINY_PALIGEMMA = [
    ("language_model.model.embed_tokens.weight", "embed_tokens", (6, 4)),
    ("language_model.model.layers.0.self_attn.q_proj.weight", "q_proj", (4, 4)),
    ("language_model.model.norm.weight", "norm", (4,)),
    ("vision_tower.vision_model.embeddings.patch_embedding.weight", "patch_embedding", (2, 3, 2, 2)),
    ("vision_tower.vision_model.post_layernorm.bias", "post_layernorm_bias", (2,)),
    ("multi_modal_projector.linear.weight", "projector_weight", (4, 2)),
    ("multi_modal_projector.linear.bias", "projector_bias", (4,)),
]

NEWER_PREFIXES = [
    ("language_model.model.", "model.language_model."),
    ("vision_tower.", "model.vision_tower."),
    ("multi_modal_projector.", "model.multi_modal_projector."),
]


def newer_name(older: str) -> str:
    for old_prefix, new_prefix in NEWER_PREFIXES:
        if older.startswith(old_prefix):
            return new_prefix + older[len(old_prefix):]
    raise ValueError(older)


def name_schemes(writer: ChapterWriter) -> None:
    values = {}
    for name, short, shape in TINY_PALIGEMMA:
        values[name] = torch.randn(*shape).numpy()
        writer.save("names_" + short, values[name])
    lm_head = torch.randn(6, 4).numpy()
    writer.save("names_lm_head", lm_head)

    older = [f32_entry(name, values[name]) for name, _, _ in TINY_PALIGEMMA]
    write_safetensors(os.path.join(FOLDER, "names_older", "model.safetensors"), older, {"format": "pt"})
    newer = [f32_entry(newer_name(name), values[name]) for name, _, _ in TINY_PALIGEMMA]
    newer.append(f32_entry("lm_head.weight", lm_head))
    write_safetensors(os.path.join(FOLDER, "names_newer", "model.safetensors"), newer, {"format": "pt"})


def generate() -> None:
    seed_everything(0)
    writer = ChapterWriter(CHAPTER)
    single_file(writer)
    sharded(writer)
    name_schemes(writer)
