"""The PaliGemma processor in Python: image preprocessing and prompt ids.

Mirrors what Hugging Face's PaliGemmaProcessor does for one image and one
prompt, with Pillow, NumPy and sentencepiece only:
  pixels: open, convert("RGB"), resize to size x size with BICUBIC, rescale
          by 1/255 in float64 then cast to float32, normalize with mean and
          std 0.5 in float32, channels first (SiglipImageProcessor)
  ids:    num_image_tokens x <image>, <bos>, tokens(prompt), tokens("\\n")
The C twins are chapters 13 and 14.
"""
import warnings
from typing import List

import numpy as np
from PIL import Image


def siglip_preprocess(path: str, size: int):
    """Return (rgb, resized, pixel_values) as SiglipImageProcessor computes them."""
    with warnings.catch_warnings():
        # Pillow warns that a palette with per-entry alpha should go to RGBA;
        # the processor converts to RGB, which drops that alpha on purpose.
        warnings.filterwarnings("ignore", "Palette images with Transparency")
        rgb = Image.open(path).convert("RGB")
    resized = rgb.resize((size, size), Image.BICUBIC)
    resized_array = np.asarray(resized)
    # rescale: float64 times the Python float 1/255, then cast to float32.
    rescaled = (resized_array.astype(np.float64) * (1 / 255)).astype(np.float32)
    # normalize: mean and std are float32 arrays, so the arithmetic stays float32.
    mean = np.array([0.5, 0.5, 0.5], dtype=np.float32)
    std = np.array([0.5, 0.5, 0.5], dtype=np.float32)
    normalized = (rescaled - mean) / std
    return np.asarray(rgb), resized_array, normalized.transpose(2, 0, 1)


def paligemma_prompt_ids(sp, prompt: str, image_token_id: int, num_image_tokens: int = 256) -> List[int]:
    """num_image_tokens x <image>, then <bos>, tokens(prompt), tokens("\\n").

    The prompt and the newline are encoded separately, as the processor does.
    """
    return [image_token_id] * num_image_tokens + [sp.bos_id()] + sp.encode(prompt) + sp.encode("\n")
