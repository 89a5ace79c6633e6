#!/usr/bin/python3
"""Time our PyTorch reference on a checkpoint, the way make bench times the C program.

    /usr/bin/python3 golden/bench/bench_pytorch.py --model DIR --pixel-values X.npy
        --input-ids 1,2,3 [--max-tokens 32] [--threads 2]

Prints one JSON line: vision_seconds (vision tower and projector),
prefill_seconds (time to the first token, vision included), decode steps and
seconds (the tokens after the first, eos ignored) and peak_rss_mib. Weights are
float32 in memory, as PyTorch on the CPU computes in float32.
"""
import argparse
import json
import os
import resource
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from modeling_gemma import KVCache  # noqa: E402
from modeling_paligemma import load_paligemma  # noqa: E402


def skip_default_init() -> None:
    """Make module construction skip the random initialization the checkpoint overwrites anyway."""
    for module in (torch.nn.Linear, torch.nn.Embedding, torch.nn.Conv2d, torch.nn.LayerNorm):
        module.reset_parameters = lambda self: None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--pixel-values", required=True)
    parser.add_argument("--input-ids", required=True)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    skip_default_init()
    start = time.perf_counter()
    model, _ = load_paligemma(args.model)
    load_seconds = time.perf_counter() - start

    input_ids = torch.tensor([[int(v) for v in args.input_ids.split(",")]])
    pixel_values = torch.from_numpy(np.load(args.pixel_values)).unsqueeze(0)
    num_prompt = input_ids.shape[1]

    with torch.no_grad():
        # The vision tower and projector alone.
        start = time.perf_counter()
        model.multi_modal_projector(model.vision_tower(pixel_values))
        vision_seconds = time.perf_counter() - start

        # Time to first token: vision, merge and the prefill, then the argmax.
        kv_cache = KVCache()
        start = time.perf_counter()
        logits = model(input_ids, pixel_values, torch.zeros(1, 1, num_prompt, num_prompt),
                       torch.arange(1, num_prompt + 1).unsqueeze(0), kv_cache)
        token = int(torch.argmax(logits[0, -1]))
        prefill_seconds = time.perf_counter() - start

        # The other tokens, one decode step each.
        start = time.perf_counter()
        for _ in range(args.max_tokens - 1):
            past = kv_cache.num_items()
            logits = model(torch.tensor([[token]]), None, torch.zeros(1, 1, 1, past + 1),
                           torch.tensor([[past + 1]]), kv_cache)
            token = int(torch.argmax(logits[0, -1]))
        decode_seconds = time.perf_counter() - start

    print(json.dumps({
        "load_seconds": load_seconds, "vision_seconds": vision_seconds, "prefill_seconds": prefill_seconds,
        "decode_steps": args.max_tokens - 1, "decode_seconds": decode_seconds,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "threads": args.threads,
    }))


if __name__ == "__main__":
    main()
