"""Calibrate the `zipf_drift` generator against the DeepSeek EPLB baseline, and measure
the memory of the streamed vLLM trace reader.

1. Balance grid: for each (s, sigma, tokens), draw traces at the leaderboard shape
   (58 layers, 256 experts, 288 replicas, 8 groups, 4 nodes, 32 GPUs), place each window
   with the hierarchical DeepSeek policy and score the placement on the NEXT window (the
   spec's per-GPU balance, via bench/eplb_reference.py). The real trace gives DeepSeek
   about 0.66, so ranges whose mean lands in 0.6-0.7 are marked.
2. The spec's own ranges (training and the `regime_shift` holdout), sampled as the
   workload builder samples them.
3. Reader memory: a synthetic vLLM expert-load JSON file is written, then read with
   tracemalloc on; the peak traced memory is printed next to the file size.

Run: .venv/bin/python bench/calibrate_eplb.py [--quick]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
import tracemalloc

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))

from adrs_spec.workloads.generators import GENERATORS, sample_range  # noqa: E402
from adrs_spec.workloads.traces import load_vllm_expert_load  # noqa: E402

LAYERS, EXPERTS, REPLICAS, GROUPS, NODES, GPUS = 58, 256, 288, 8, 4, 32
TARGET = (0.6, 0.7)
# (name, sampled ranges, fixed arguments) as a workload line would give them
CANDIDATES = [
    ("spec zipf_drift as shipped", {"s": (0.8, 1.2), "sigma": (0.02, 0.1)}, {"tokens": 819200, "shift_every": 0}),
    ("recommended zipf_drift", {"s": (1.0, 1.1), "sigma": (0.02, 0.1)}, {"tokens": 819200, "shift_every": 0}),
    ("generator defaults", {}, {}),
    ("its auto_shift holdout", {"s": (1.1, 1.2), "sigma": (0.1, 0.18)}, {"tokens": 819200, "shift_every": 0}),
    ("spec regime_shift holdout", {"s": (1.2, 1.6), "sigma": (0.1, 0.3)}, {"tokens": 819200, "shift_every": 4}),
]


def _deepseek():
    path = os.path.join(ROOT, "specs/eplb/policies/deepseek.py")
    spec = importlib.util.spec_from_file_location("deepseek_policy", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.rebalance_experts


def next_window_balance(rebalance, load: np.ndarray, pairs: int) -> list[float]:
    """DeepSeek's balance on window w + 1 when placed from window w, for the first `pairs` w."""
    import torch
    from eplb_reference import numpy_evaluate

    out = []
    for w in range(min(pairs, len(load) - 1)):
        phy2log, log2phy, logcnt = rebalance(torch.from_numpy(load[w]), REPLICAS, GROUPS, NODES, GPUS)
        ok, balance = numpy_evaluate(load[w + 1][None], phy2log.numpy()[None], log2phy.numpy()[None],
                                     logcnt.numpy()[None], GPUS)
        assert ok[0], "DeepSeek produced an invalid placement"
        out.append(float(balance[0]))
    return out


def grid(rebalance, s_values, sigma_values, tokens_values, cases: int, pairs: int) -> None:
    print(f"next-window balance of DeepSeek, mean (min-max) over {cases} traces x {pairs} window pairs")
    print(f"{'s':>5} {'sigma':>6} {'tokens':>9}   balance")
    gen = GENERATORS["zipf_drift"]
    for tokens in tokens_values:
        for s in s_values:
            for sigma in sigma_values:
                scores = []
                for case in range(cases):
                    rng = np.random.default_rng([case, int(s * 100), int(sigma * 1000), tokens])
                    load = gen(rng, (pairs + 1, LAYERS, EXPERTS), s=s, sigma=sigma, tokens=tokens)
                    scores += next_window_balance(rebalance, load, pairs)
                mean = float(np.mean(scores))
                mark = "  <- in target" if TARGET[0] <= mean <= TARGET[1] else ""
                print(f"{s:5.2f} {sigma:6.3f} {tokens:9d}   {mean:.3f} ({min(scores):.3f}-{max(scores):.3f}){mark}",
                      flush=True)


def spec_ranges(rebalance, name: str, ranges: dict, fixed: dict, cases: int, pairs: int) -> None:
    """Mean balance when the generator arguments are sampled from the spec's ranges."""
    gen = GENERATORS["zipf_drift"]
    scores = []
    for case in range(cases):
        rng = np.random.default_rng([7, case])
        args = {k: sample_range(rng, lo, hi) for k, (lo, hi) in ranges.items()}
        load = gen(rng, (pairs + 1, LAYERS, EXPERTS), **args, **fixed)
        scores += next_window_balance(rebalance, load, pairs)
    print(f"{name}: {ranges} {fixed}: mean {np.mean(scores):.3f} (min {min(scores):.3f}, max {max(scores):.3f}) "
          f"over {len(scores)} instances")


def write_vllm_file(path: str, records: int, layers: int, experts: int) -> None:
    """A synthetic expert-load JSON, written one record at a time."""
    rng = np.random.default_rng(0)
    with open(path, "w") as f:
        f.write('{"load_history": [')
        for i in range(records):
            load = rng.integers(0, 20000, size=(layers, experts))
            f.write(("," if i else "") + json.dumps({"logical_expert_load": load.tolist()}))
        f.write("]}")


def reader_memory(target_mb: float) -> None:
    layers, experts = LAYERS, EXPERTS
    per_record = layers * experts * 6.9           # bytes of one record, about
    records = int(target_mb * 1e6 / per_record)
    window = max(1, records // 10)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "expert-load.json")
        write_vllm_file(path, records, layers, experts)
        size = os.path.getsize(path)
        start = time.perf_counter()
        load_vllm_expert_load(path, window=window)
        plain = time.perf_counter() - start
        start = time.perf_counter()
        tracemalloc.start()
        array = load_vllm_expert_load(path, window=window)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        elapsed = time.perf_counter() - start
    print(f"vLLM reader: file {size / 1e6:.1f} MB ({records} records of {layers}x{experts}, window {window}), "
          f"result {array.shape} = {array.nbytes / 1e6:.1f} MB; peak traced memory {peak / 1e6:.1f} MB "
          f"= {peak / size:.3f} x the file size; read in {plain:.1f} s ({size / 1e6 / plain:.0f} MB/s), "
          f"{elapsed:.1f} s with tracemalloc on", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small grid and a 10 MB reader file")
    parser.add_argument("--skip-grid", action="store_true", help="only the spec's ranges and the reader")
    parser.add_argument("--cases", type=int, default=2)
    parser.add_argument("--pairs", type=int, default=4)
    args = parser.parse_args()
    reader_memory(10 if args.quick else 50)
    rebalance = _deepseek()
    if args.skip_grid:
        pass
    elif args.quick:
        grid(rebalance, [0.8, 1.0, 1.2], [0.05], [819200], 1, 2)
    else:
        grid(rebalance, [0.6, 0.8, 0.9, 1.0, 1.1, 1.2, 1.4], [0.02, 0.05, 0.1, 0.2, 0.3],
             [81920, 819200, 8192000], args.cases, args.pairs)
    for name, ranges, fixed in CANDIDATES:
        spec_ranges(rebalance, name, ranges, fixed, 8, args.pairs)

if __name__ == "__main__":
    main()
