"""Reference activation dumps for paligemma-compare and its test.

For each tiny checkpoint of chapter 12 (float32, bfloat16, float16 weights),
and for the trained tiny-shapes model (golden/tiny_shapes/model, into trained/),
the PyTorch reference runs the request that tests/test_numerics_compare.c
gives the C program (photo.png, "caption en", 4 new tokens) and writes the
dump with golden/dump_reference.py, into golden/numerics_compare/<precision>/.
Four decode steps keep the dumps small; the chapter 12 test covers 12.
"""
import os

from dump_reference import dump_reference
from golden_io import GOLDEN_DIR, seed_everything

CHAPTER = "numerics_compare"
CHECKPOINTS = os.path.join(GOLDEN_DIR, "12_paligemma")
PROMPT = "caption en"
MAX_NEW_TOKENS = 4


def generate() -> None:
    seed_everything(0)  # nothing here is random; this only sets deterministic algorithms
    image = os.path.join(CHECKPOINTS, "photo.png")
    for precision in ("f32", "bf16", "f16"):
        out = os.path.join(GOLDEN_DIR, CHAPTER, precision)
        ids = dump_reference(os.path.join(CHECKPOINTS, f"tiny_{precision}"), out, image=image, prompt=PROMPT,
                             max_new_tokens=MAX_NEW_TOKENS)
        print(f"  {precision}: greedy ids {ids}")

    # The trained tiny-shapes model, under the name "trained".
    out = os.path.join(GOLDEN_DIR, CHAPTER, "trained")
    ids = dump_reference(os.path.join(GOLDEN_DIR, "tiny_shapes", "model"), out, image=image, prompt=PROMPT,
                         max_new_tokens=MAX_NEW_TOKENS)
    print(f"  trained: greedy ids {ids}")
