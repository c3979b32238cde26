"""What each part of the exact-optimum search saves, measured in one process.

On tiny instances of the shipped specs' first workloads (the sizes `adrs-spec optima` ships),
the search runs four ways under the same per-instance timeout:
  full       strict improvement, outputs the objective does not read completed afterwards,
             proven symmetries broken (the default)
  no-sym     the same without symmetry breaking
  no-proj    the same without leaving out (then completing) the outputs the objective ignores
  plain      neither
For each: instances proven, total seconds (an UNKNOWN counts its whole timeout), and the
ratio of each variant's time to the full search's. Every proven value must agree.

    JAX_PLATFORMS=cpu python bench/optimum_search.py [--instances 4] [--timeout 60]
"""
from __future__ import annotations

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from adrs_spec import optima  # noqa: E402
from adrs_spec.backends.z3.optimum import optimum  # noqa: E402
from adrs_spec.backends.z3.verdicts import Verdict  # noqa: E402
from adrs_spec.compile import compile_file  # noqa: E402

CASES = [("specs/eplb.adrs", {"layers": 1, "experts": 6, "replicas": 8, "gpus": 4, "nodes": 2, "groups": 2}),
         ("specs/placement.adrs", {"gpus": 4, "models": 8})]
VARIANTS = {"full": (True, True), "no-sym": (False, True), "no-proj": (True, False), "plain": (False, False)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instances", type=int, default=4)
    ap.add_argument("--timeout", type=float, default=60.0)
    args = ap.parse_args()
    for path, size in CASES:
        spec = compile_file(os.path.join(ROOT, path))
        wset = optima.tiny_set(spec, size, args.instances, seed=0)
        group = wset.groups[0]
        objective = spec.objectives[optima.modelled_objective(spec)]
        fields = {t.name for t in spec.fields()}
        print(f"{path} at {size}, {group.size} instances, {args.timeout:g} s each")
        totals = {}
        values: dict[int, float] = {}
        for name, (sym, proj) in VARIANTS.items():
            proven, seconds = 0, 0.0
            for i in range(group.size):
                instance = {n: a[i] for n, a in group.fields.items() if n in fields}
                r = optimum(spec, group.params, instance, objective, timeout_s=args.timeout,
                            symmetries=sym, project=proj)
                if r.verdict is Verdict.PROVED:
                    proven += 1
                    seconds += r.seconds
                    if i in values and abs(values[i] - r.value) > 1e-9 * max(1.0, abs(r.value)):
                        raise SystemExit(f"{name}: instance {i} optimum {r.value} differs from {values[i]}")
                    values.setdefault(i, r.value)
                else:
                    seconds += args.timeout
            totals[name] = seconds
            ratio = seconds / totals["full"] if totals["full"] else float("nan")
            print(f"  {name:<8} proven {proven}/{group.size}  {seconds:8.1f} s  {ratio:6.2f}x the full search")


if __name__ == "__main__":
    main()
