"""What searching tiny instances in parallel processes saves, measured in one process.

`adrs-spec optima` searches each instance in its own worker process (`--workers`, default one
per core). Here the same instances of EPLB's shipped tiny size are computed with one worker
(in this process) and with N worker processes; the script prints the wall time of each, the
ratio, and checks that both give the same verdicts and optima.

    JAX_PLATFORMS=cpu python bench/optima_workers.py [--instances 8] [--workers N] [--timeout 60]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from adrs_spec import optima  # noqa: E402
from adrs_spec.compile import compile_file  # noqa: E402

SIZE = {"layers": 1, "experts": 6, "replicas": 8, "gpus": 4, "nodes": 2, "groups": 2}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=int, default=8)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    spec = compile_file(os.path.join(ROOT, "specs/eplb.adrs"))
    timings, results = {}, {}
    for workers in (1, args.workers):
        start = time.perf_counter()
        results[workers] = optima.compute(spec, SIZE, args.instances, 0, args.timeout, workers=workers)
        timings[workers] = time.perf_counter() - start
        proven = len(results[workers].proven)
        print(f"workers {workers:2d}: {proven}/{args.instances} proven in {timings[workers]:6.1f} s", flush=True)
    one, many = ([(t.label, t.verdict, t.value) for t in results[w].instances] for w in (1, args.workers))
    print(f"same verdicts and optima: {one == many}")
    print(f"speed-up with {args.workers} workers: {timings[1] / timings[args.workers]:.2f}x "
          f"({os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
