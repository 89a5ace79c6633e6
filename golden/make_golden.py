#!/usr/bin/python3
"""Write every golden file: runs golden/gen_*.py, one script per chapter.

    /usr/bin/python3 golden/make_golden.py            # all chapters
    /usr/bin/python3 golden/make_golden.py 03 05      # chapters whose script starts gen_03, gen_05

Each gen_NN_name.py defines generate() and writes golden/NN_name/*.npy with
fixed seeds, so running this twice leaves `git status` clean.
"""
import glob
import importlib.util
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> None:
    # One thread: the result of a float32 reduction can depend on how it is split among threads.
    torch.set_num_threads(1)
    sys.path.insert(0, HERE)
    wanted = sys.argv[1:]
    scripts = sorted(glob.glob(os.path.join(HERE, "gen_*.py")))
    for path in scripts:
        name = os.path.basename(path)[len("gen_"):-len(".py")]
        if wanted and not any(name.startswith(prefix) for prefix in wanted):
            continue
        spec = importlib.util.spec_from_file_location("gen_" + name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        print(f"golden: {name}", flush=True)
        module.generate()


if __name__ == "__main__":
    main()
