"""Reading and writing Hugging Face safetensors files with struct, json and torch.

Debian ships no safetensors package, so this is the format written out by
hand: an 8-byte little-endian header size, the JSON header padded with spaces
to a multiple of 8 bytes, then the tensor bytes.
"""
import json
import mmap
import os
import struct
from typing import Dict, Iterator, List, Tuple

import numpy as np
import torch

_TORCH_DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}
_DTYPE_NAMES = {value: key for key, value in _TORCH_DTYPES.items()}


def write_safetensors(path: str, tensors, metadata=None) -> None:
    """Write [(name, dtype, shape, raw bytes)] as one .safetensors file."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    offset = 0
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for _, _, _, raw in tensors:
            f.write(raw)


def save_state_dict(path: str, state_dict: Dict[str, torch.Tensor], dtype: torch.dtype) -> None:
    """Write a state dict as one .safetensors file, every tensor cast to dtype."""
    entries = []
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().to(dtype).contiguous()
        # Reinterpret as bytes through a same-width integer view (numpy has no bfloat16).
        raw = tensor.view(torch.int16 if tensor.element_size() == 2 else torch.int32).numpy().tobytes()
        entries.append((name, _DTYPE_NAMES[dtype], tuple(tensor.shape), raw))
    write_safetensors(path, entries, metadata={"format": "pt"})


def read_safetensors(path: str) -> Dict[str, torch.Tensor]:
    """Read one .safetensors file into float32 tensors (F32, BF16 and F16 only)."""
    with open(path, "rb") as f:
        data = f.read()
    (header_size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + header_size].decode("utf-8"))
    base = 8 + header_size
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in _TORCH_DTYPES:
            raise ValueError(f"{path}: tensor {name}: dtype {info['dtype']} is not F32, BF16 or F16")
        begin, end = info["data_offsets"]
        raw = np.frombuffer(data[base + begin:base + end], dtype=np.uint8).copy()
        tensor = torch.from_numpy(raw).view(_TORCH_DTYPES[info["dtype"]]).reshape(info["shape"])
        tensors[name] = tensor.float()
    return tensors


def checkpoint_files(folder: str) -> List[str]:
    """Return model.safetensors, or the shards that model.safetensors.index.json names."""
    index_path = os.path.join(folder, "model.safetensors.index.json")
    if os.path.exists(index_path):
        with open(index_path, encoding="utf-8") as f:
            return sorted(set(json.load(f)["weight_map"].values()))
    return ["model.safetensors"]


def iter_checkpoint(folder: str) -> Iterator[Tuple[str, torch.Tensor]]:
    """Yield (name, tensor) for every tensor of a checkpoint, one at a time, in its stored dtype.

    Each file is memory-mapped copy-on-write and each tensor is a view into the
    mapping, so reading a checkpoint holds no second copy of it: the caller
    copies a tensor where it belongs before asking for the next one. The views
    stay valid as long as they are referenced.
    """
    for file_name in checkpoint_files(folder):
        path = os.path.join(folder, file_name)
        with open(path, "rb") as f:
            mapping = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
        (header_size,) = struct.unpack("<Q", mapping[:8])
        header = json.loads(mapping[8:8 + header_size].decode("utf-8"))
        base = 8 + header_size
        for name, info in header.items():
            if name == "__metadata__":
                continue
            if info["dtype"] not in _TORCH_DTYPES:
                raise ValueError(f"{path}: tensor {name}: dtype {info['dtype']} is not F32, BF16 or F16")
            dtype = _TORCH_DTYPES[info["dtype"]]
            begin, end = info["data_offsets"]
            count = (end - begin) // torch.tensor([], dtype=dtype).element_size()
            if count == 0:
                yield name, torch.empty(info["shape"], dtype=dtype)
                continue
            flat = torch.frombuffer(mapping, dtype=dtype, count=count, offset=base + begin)
            yield name, flat.reshape(info["shape"])
        # The mapping closes when the last view of it is freed.
        del mapping


def read_checkpoint(folder: str) -> Tuple[Dict[str, torch.Tensor], List[str]]:
    """Read model.safetensors, or every shard named by model.safetensors.index.json.

    Returns the float32 tensors and the list of files read.
    """
    files = checkpoint_files(folder)
    tensors: Dict[str, torch.Tensor] = {}
    for name in files:
        tensors.update(read_safetensors(os.path.join(folder, name)))
    return tensors, files
