#!/usr/bin/python3
"""make bench: the C program against our PyTorch reference at paligemma-3b-pt-224's shapes.

    /usr/bin/python3 golden/bench/run_bench.py [--build build] [--max-tokens 32]

Writes the random bfloat16 checkpoint first if it is missing (about 5.9 GB in
~/.cache/paligemma-c/bench-3b-pt-224, see make_checkpoint.py), then runs, on
the same checkpoint, pixels and 264-token prompt: the machine's memory read
bandwidth (build/memory-bandwidth), the C program, and the PyTorch reference.
It prints a table of vision time, time to first token, decode speed and peak
memory, with the ratio C / PyTorch. It also prints the decode speed as a
fraction of the bandwidth limit, which is the bandwidth divided by the bytes of
weights that one decode step reads.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

from make_checkpoint import DEFAULT_FOLDER, main as make_checkpoint, tensor_shapes  # noqa: E402
from gen_12_paligemma import PALIGEMMA_3B_PT_224  # noqa: E402


def decode_bytes_per_token(config: dict) -> int:
    """Bytes of bfloat16 weights one decode step reads: every text Linear and the tied head."""
    total = 0
    for name, shape in tensor_shapes(config):
        if name.startswith("language_model.") and len(shape) == 2:
            total += 2 * int(np.prod(shape))
    return total


def run(command, env=None) -> str:
    print("$ " + " ".join(command), flush=True)
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        sys.exit(f"bench: {command[0]} failed with status {result.returncode}:\n{result.stderr}")
    return result.stdout + result.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default="build")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()

    folder = DEFAULT_FOLDER
    if not os.path.exists(os.path.join(folder, "model.safetensors.index.json")):
        sys.argv = [sys.argv[0], folder]
        make_checkpoint()

    # The request: random pixels and 256 image tokens, <bos>, 6 text ids, "\n".
    rng = np.random.default_rng(10)
    pixels = os.path.join(folder, "pixel_values.npy")
    np.save(pixels, rng.uniform(-1, 1, size=(3, 224, 224)).astype(np.float32))
    ids = [257152] * 256 + [2] + [int(v) for v in rng.integers(1000, 200000, size=6)] + [108]
    id_list = ",".join(map(str, ids))

    bandwidth_line = run([os.path.join(args.build, "memory-bandwidth"), "2048"])
    bandwidth = float(re.search(r"([0-9.]+) GB/s", bandwidth_line).group(1))

    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    start = time.perf_counter()
    c_output = run([os.path.join(args.build, "paligemma"), "--model", folder, "--pixel-values", pixels,
                    "--input-ids", id_list, "--max-tokens", str(args.max_tokens), "--ignore-eos"], env)
    c_wall = time.perf_counter() - start
    timing = re.search(r"vision ([0-9.]+) s, prefill ([0-9.]+) s \((\d+) tokens\), decode (\d+) tokens? in "
                       r"([0-9.]+) s .*peak memory ([0-9.]+) MiB", c_output)
    c = {"vision_seconds": float(timing.group(1)),
         "prefill_seconds": float(timing.group(1)) + float(timing.group(2)),
         "decode_steps": int(timing.group(4)), "decode_seconds": float(timing.group(5)),
         "peak_rss_mib": float(timing.group(6))}

    py_output = run([sys.executable, os.path.join(HERE, "bench_pytorch.py"), "--model", folder,
                     "--pixel-values", pixels, "--input-ids", id_list, "--max-tokens", str(args.max_tokens),
                     "--threads", str(args.threads)])
    py = json.loads(py_output.strip().splitlines()[-1])

    config = dict(PALIGEMMA_3B_PT_224)
    per_token = decode_bytes_per_token(config)
    limit = bandwidth * 1e9 / per_token
    c_rate = c["decode_steps"] / c["decode_seconds"]
    py_rate = py["decode_steps"] / py["decode_seconds"]

    rows = [
        ("vision tower + projector (s)", c["vision_seconds"], py["vision_seconds"]),
        ("time to first token (s), 264-token prompt", c["prefill_seconds"], py["prefill_seconds"]),
        (f"decode (tokens/s, {args.max_tokens - 1} steps)", c_rate, py_rate),
        ("peak resident memory (MiB)", c["peak_rss_mib"], py["peak_rss_mib"]),
    ]
    print()
    print(f"| measure | C | PyTorch | C / PyTorch |")
    print(f"|---|---|---|---|")
    for name, c_value, py_value in rows:
        print(f"| {name} | {c_value:.2f} | {py_value:.2f} | {c_value / py_value:.2f} |")
    print()
    print(f"memory read bandwidth: {bandwidth:.2f} GB/s; one decode step reads {per_token / 1e9:.2f} GB of bfloat16 "
          f"weights, so the limit is {limit:.2f} tokens/s")
    print(f"C decode: {c_rate:.2f} tokens/s = {100 * c_rate / limit:.0f}% of the limit; "
          f"PyTorch (float32 weights, {2 * per_token / 1e9:.2f} GB per step): {py_rate:.2f} tokens/s")
    weight_mib = sum(2 * int(np.prod(shape)) for _, shape in tensor_shapes(config)) / 2**20
    print(f"bfloat16 weights: {weight_mib:.0f} MiB; C peak memory is {100 * c['peak_rss_mib'] / weight_mib:.0f}% "
          f"of that (the KV cache and activations included)")
    print(f"threads: {args.threads}; C wall time {c_wall:.1f} s")


if __name__ == "__main__":
    main()
