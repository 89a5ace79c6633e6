"""Writing golden files: one .npy per tensor, byte for byte reproducible."""
import os

import numpy as np
import torch

GOLDEN_DIR = os.path.dirname(os.path.abspath(__file__))


class ChapterWriter:
    """Write the tensors of one chapter into golden/<chapter>/."""

    def __init__(self, chapter: str) -> None:
        self.folder = os.path.join(GOLDEN_DIR, chapter)
        os.makedirs(self.folder, exist_ok=True)

    def save(self, name: str, value, dtype=np.float32) -> None:
        """Save a tensor or array as golden/<chapter>/<name>.npy in C order."""
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        array = np.ascontiguousarray(np.asarray(value, dtype=dtype))
        np.save(os.path.join(self.folder, name + ".npy"), array)


def seed_everything(seed: int) -> None:
    """Fix torch's generator so that re-running a script writes the same bytes."""
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
