"""Draw the committed example scenes of golden/tiny_shapes/examples/.

Writes a few PNGs from a fixed seed (one that neither training nor eval.py
uses) and examples.tsv: image file, prompt, expected answer, one request a
line, tab-separated. run_examples.sh runs build/paligemma on each line.

    /usr/bin/python3 golden/tiny_shapes/make_examples.py
"""
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import scenes  # noqa: E402

EXAMPLES_SEED = 31
FOLDER = os.path.join(HERE, "examples")


def main() -> None:
    rng = np.random.default_rng(EXAMPLES_SEED)
    os.makedirs(FOLDER, exist_ok=True)
    rows = []
    # Four scenes with two or three shapes, so that every task has something to say.
    index = 0
    while index < 4:
        scene = scenes.draw_scene(rng)
        if len(scene.objects) < 2:
            continue
        name = f"shapes_{index}.png"
        scene.image.save(os.path.join(FOLDER, name))
        triples = scenes.tasks(scene)
        wanted = {0: ("caption",), 1: ("detect", "color"), 2: ("caption", "detect"), 3: ("color", "detect")}[index]
        for kind in wanted:
            for triple_kind, prompt, answer in triples:
                if triple_kind == kind:
                    rows.append(f"{name}\t{prompt}\t{answer}")
                    break
        index += 1
    with open(os.path.join(FOLDER, "examples.tsv"), "w", encoding="utf-8") as f:
        f.write("\n".join(rows) + "\n")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
