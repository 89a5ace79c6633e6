"""Export the trained tiny-shapes model in the Hugging Face layout.

Reads checkpoint.pt, config.json and tokenizer.model from the training cache
folder (see train.py) and writes golden/tiny_shapes/model/: config.json,
model.safetensors (float32, without lm_head, which is tied to embed_tokens)
and tokenizer.model. The files load with load_paligemma() and with
build/paligemma --model golden/tiny_shapes/model.

    /usr/bin/python3 golden/tiny_shapes/export.py [--cache DIR] [--out DIR]
"""
import argparse
import json
import os
import shutil
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # golden/

from modeling_paligemma import PaliGemmaConfig, PaliGemmaForConditionalGeneration  # noqa: E402
from safetensors_io import save_state_dict  # noqa: E402

DEFAULT_CACHE = os.path.expanduser("~/.cache/paligemma-tiny-shapes")
DEFAULT_OUT = os.path.join(HERE, "model")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", default=DEFAULT_CACHE, help="training cache folder with checkpoint.pt")
    parser.add_argument("--out", default=DEFAULT_OUT, help="folder to write the checkpoint into")
    args = parser.parse_args()

    with open(os.path.join(args.cache, "config.json"), encoding="utf-8") as f:
        config_data = json.load(f)
    saved = torch.load(os.path.join(args.cache, "checkpoint.pt"))
    model = PaliGemmaForConditionalGeneration(PaliGemmaConfig.from_dict(config_data))
    model.load_state_dict(saved["model"])
    state = saved["state"]

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "config.json"), "w", encoding="utf-8") as f:
        json.dump(config_data, f, indent=2, sort_keys=True)
        f.write("\n")
    tensors = {k: v for k, v in model.state_dict().items() if not k.startswith("language_model.lm_head")}
    save_state_dict(os.path.join(args.out, "model.safetensors"), tensors, torch.float32)
    shutil.copyfile(os.path.join(args.cache, "tokenizer.model"), os.path.join(args.out, "tokenizer.model"))
    # What was exported, for docs/tiny_shapes.md and the eval report.
    with open(os.path.join(args.out, "training_state.json"), "w", encoding="utf-8") as f:
        json.dump({k: state[k] for k in ("step", "samples", "images", "seconds") if k in state}, f, indent=2,
                  sort_keys=True)
        f.write("\n")
    size = sum(os.path.getsize(os.path.join(args.out, n)) for n in os.listdir(args.out))
    print(f"exported step {state['step']} ({state['samples']} samples) to {args.out}: {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
