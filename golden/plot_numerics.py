#!/usr/bin/python3
"""Plot the error of each tensor against its depth, for every weight precision.

    make compare                              # writes the C dumps to build/numerics/c_*
    /usr/bin/python3 golden/plot_numerics.py  # writes docs/numerics_error_by_layer.png

Each curve is one comparison of a C dump (build/numerics/c_<precision>) with
a PyTorch dump (golden/numerics_compare/<precision>), with the error measured
as paligemma-compare measures it: max |A - B| / max |B| per tensor, in the
order of the index. The ids and the pixel values are left out (exact on both
sides). Needs numpy and matplotlib (Debian: python3-matplotlib).
"""
import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SKIPPED = {"pixel_values", "input_ids", "generated_ids"}
# (label, C dump, PyTorch dump, line style)
COMPARISONS = [
    ("C vs PyTorch, float32 weights", "c_f32", "f32", "-o"),
    ("C vs PyTorch, both bfloat16 weights", "c_bf16", "bf16", "-s"),
    ("C vs PyTorch, both float16 weights", "c_f16", "f16", "-^"),
    ("C bfloat16 weights vs PyTorch float32 weights", "c_bf16", "f32", "--s"),
    ("C float16 weights vs PyTorch float32 weights", "c_f16", "f32", "--^"),
]
DEFAULT_TOLERANCE = 1e-4


def index_names(folder: str) -> list:
    """Return the tensor names of folder/index.txt in order."""
    with open(os.path.join(folder, "index.txt"), encoding="utf-8") as f:
        return [line.split()[0] for line in f if line.strip() and not line.startswith("#")]


def relative_errors(folder_a: str, folder_b: str, names: list) -> list:
    """Return max|A - B| / max|B| for each name (float64 arithmetic)."""
    errors = []
    for name in names:
        a = np.load(os.path.join(folder_a, name + ".npy")).astype(np.float64)
        b = np.load(os.path.join(folder_b, name + ".npy")).astype(np.float64)
        scale = np.abs(b).max()
        errors.append(np.abs(a - b).max() / scale if scale > 0 else np.abs(a - b).max())
    return errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--c-dumps", default=os.path.join(ROOT, "build", "numerics"))
    parser.add_argument("--reference-dumps", default=os.path.join(ROOT, "golden", "numerics_compare"))
    parser.add_argument("--output", default=os.path.join(ROOT, "docs", "numerics_error_by_layer.png"))
    args = parser.parse_args()

    names = [n for n in index_names(os.path.join(args.reference_dumps, "f32")) if n not in SKIPPED]
    figure, axes = plt.subplots(figsize=(10, 5.2), dpi=100)
    for label, c_dump, reference, style in COMPARISONS:
        errors = relative_errors(os.path.join(args.c_dumps, c_dump), os.path.join(args.reference_dumps, reference),
                                 names)
        axes.semilogy(range(len(names)), errors, style, label=label, markersize=4)
    axes.axhline(DEFAULT_TOLERANCE, color="gray", linestyle=":", label="default tolerance 1e-4")
    axes.set_xticks(range(len(names)))
    axes.set_xticklabels(names, rotation=60, ha="right", fontsize=8)
    axes.set_ylabel("max |A - B| / max |B|")
    axes.set_title("Tiny PaliGemma (2 SigLIP + 2 Gemma layers): error per tensor, in the order computed",
                   fontsize=10)
    axes.grid(True, which="major", alpha=0.3)
    axes.legend(fontsize=8, loc="upper left")
    figure.tight_layout()
    figure.savefig(args.output, metadata={"Software": None})
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
