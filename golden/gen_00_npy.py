"""Fixtures for the .npy reader test: files written by NumPy itself.

Every supported dtype, the shapes () and (n,), and the three format versions
(numpy.lib.format writes 2.0 and 3.0 only on request).
"""
import os

import numpy as np
from numpy.lib import format as npy_format

from golden_io import GOLDEN_DIR

FOLDER = os.path.join(GOLDEN_DIR, "00_npy")


def write_version(name: str, array: np.ndarray, version) -> None:
    with open(os.path.join(FOLDER, name + ".npy"), "wb") as f:
        npy_format.write_array(f, array, version=version)


def generate() -> None:
    os.makedirs(FOLDER, exist_ok=True)
    counting = np.arange(6, dtype=np.float32).reshape(2, 3) / np.float32(4)
    np.save(os.path.join(FOLDER, "f4_2x3.npy"), counting)
    np.save(os.path.join(FOLDER, "f8_4.npy"), np.array([0.5, -1.0, 1e300, -0.0], dtype="<f8"))
    np.save(os.path.join(FOLDER, "i4_3.npy"), np.array([1, -2, 2147483647], dtype="<i4"))
    np.save(os.path.join(FOLDER, "i8_2x1.npy"), np.array([[-9223372036854775807], [257152]], dtype="<i8"))
    np.save(os.path.join(FOLDER, "u1_5.npy"), np.array([0, 1, 127, 128, 255], dtype="|u1"))
    np.save(os.path.join(FOLDER, "b1_3.npy"), np.array([True, False, True]))
    np.save(os.path.join(FOLDER, "scalar.npy"), np.float32(2.5))
    np.save(os.path.join(FOLDER, "empty_0x4.npy"), np.zeros((0, 4), dtype=np.float32))
    write_version("f4_2x3_v2", counting, (2, 0))
    write_version("f4_2x3_v3", counting, (3, 0))
