"""How long `adrs-spec check` takes, and how far up in size each check still finishes.

Prints, for each shipped spec, the time of the full check at its default (tiny) size and of
the fast checks `compile` runs, next to the time of the compile itself (parse, check,
generate) measured in the same run; then, for EPLB at growing sizes, the verdict and time
of every check under the per-query timeout (UNKNOWN: the solver ran out of time).

    python bench/check_scaling.py [--timeout 10] [--largest 16]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from adrs_spec.backends.z3.checks import check_spec  # noqa: E402
from adrs_spec.compile import compile_spec  # noqa: E402
from adrs_spec.compile import compile_file  # noqa: E402

SIZES = [  # (experts, replicas, gpus, nodes, groups), one layer
    (4, 6, 2, 1, 1), (6, 8, 2, 1, 1), (8, 12, 4, 2, 4), (12, 16, 4, 2, 4), (16, 24, 4, 2, 4)]


def shipped(timeout_s: float) -> None:
    print(f"{'spec':<22} {'compile (s)':>12} {'fast checks (s)':>16} {'ratio':>6} {'full check (s)':>15}  verdicts")
    for path in ("specs/eplb.adrs", "specs/placement.adrs"):
        start = time.perf_counter()
        compiled = compile_spec(os.path.join(ROOT, path))
        compile_s = time.perf_counter() - start
        spec = compiled.spec
        fast = check_spec(spec, None, 2.0, fast=True)
        full = check_spec(spec, None, timeout_s)
        counts = {}
        for r in full.results:
            counts[str(r.verdict)] = counts.get(str(r.verdict), 0) + 1
        print(f"{path:<22} {compile_s:>12.2f} {fast.seconds:>16.2f} {fast.seconds / compile_s:>6.1f} "
              f"{full.seconds:>15.2f}  {counts} at {full.size}")


def scaling(timeout_s: float, largest: int) -> None:
    spec = compile_file(os.path.join(ROOT, "specs/eplb.adrs"))
    print(f"\nEPLB, one layer, {timeout_s:g} s per query: verdict and seconds of each check")
    for experts, replicas, gpus, nodes, groups in SIZES:
        if experts > largest:
            break
        size = dict(layers=1, experts=experts, replicas=replicas, gpus=gpus, nodes=nodes, groups=groups)
        report = check_spec(spec, size, timeout_s)
        print(f"experts={experts} replicas={replicas} gpus={gpus}: {report.seconds:.1f} s in all "
              f"(encoding {report.encode_seconds:.1f} s)")
        for r in report.results[2:]:
            mark = "note" if r.severity == "info" else str(r.verdict)
            print(f"    {r.check:<12} {r.subject:<32} {mark:<8} {r.seconds:6.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--largest", type=int, default=16, help="largest number of experts to try")
    args = parser.parse_args()
    shipped(args.timeout)
    scaling(args.timeout, args.largest)


if __name__ == "__main__":
    main()
