"""What the evolve loop costs beyond the candidates themselves, measured in one process.

    JAX_PLATFORMS=cpu python bench/evolve_overhead.py [--spec specs/eplb.adrs] [--iterations 40]

Three runs of the built-in mutator from the spec's round_robin.py, same seed:
  1 worker, warm sandbox worker (the default design)
  2 workers, warm
  1 worker, a fresh interpreter per candidate (warm_worker: false)
For each: the controller's own time per iteration (selection, mutation, duplicate check,
database commit, progress; everything but waiting for evaluations), evaluations per second,
and the ratios between the runs. Startup (compiling the evaluator, the initial program) is
outside the timed loop.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from adrs_spec.compile import compile_file  # noqa: E402
from adrs_spec.runtime.config import load_settings  # noqa: E402
from adrs_spec.runtime.loop import EvolveRun  # noqa: E402
from adrs_spec.runtime.report import Display  # noqa: E402

CONTROLLER_PHASES = ("propose", "dedupe", "store", "migrate")


def timed_run(spec_path: str, initial: str, iterations: int, workers: int, warm: bool, seed: int) -> dict:
    settings = load_settings(data={"seed": seed, "initial": initial,
                                   "evaluation": {"workers": workers, "warm_worker": warm, "baselines": False},
                                   "stop": {"iterations": iterations}})
    run_dir = tempfile.mkdtemp(prefix="evolve-bench-")
    spec = compile_file(spec_path)
    run = EvolveRun(run_dir, settings, spec_path, spec, False, Display(iterations, None, quiet=True))
    try:
        run.prepare()
        run.seed_initial(initial)
        start = time.perf_counter()
        run.run()
        wall = time.perf_counter() - start
        evaluated = run.progress.evaluated
        controller = sum(run.phases[p] for p in CONTROLLER_PHASES)
        return {"wall": wall, "evaluated": evaluated, "iterations": iterations,
                "controller_ms": 1000 * controller / iterations, "evals_per_s": evaluated / wall,
                "phases_ms": {k: 1000 * v / iterations for k, v in run.phases.items()}}
    finally:
        run.close()
        shutil.rmtree(run_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default=os.path.join(ROOT, "specs", "eplb.adrs"))
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    name = os.path.splitext(os.path.basename(args.spec))[0]
    initial = os.path.join(os.path.dirname(os.path.abspath(args.spec)), name, "policies", "round_robin.py")

    runs = {}
    for label, workers, warm in (("1 worker, warm", 1, True), ("2 workers, warm", 2, True),
                                 ("1 worker, cold", 1, False)):
        runs[label] = timed_run(args.spec, initial, args.iterations, workers, warm, args.seed)
        r = runs[label]
        print(f"{label:16}  {r['evaluated']:4d} evaluated in {r['wall']:6.1f} s  {r['evals_per_s']:6.2f} eval/s  "
              f"controller {r['controller_ms']:6.2f} ms/iteration  "
              f"({', '.join(f'{k} {v:.2f}' for k, v in r['phases_ms'].items() if k in CONTROLLER_PHASES)})")
    one, two, cold = runs["1 worker, warm"], runs["2 workers, warm"], runs["1 worker, cold"]
    print()
    print(f"2 workers vs 1:            {two['evals_per_s'] / one['evals_per_s']:.2f}x evaluations per second")
    print(f"warm worker vs fresh interpreter: {one['evals_per_s'] / cold['evals_per_s']:.2f}x evaluations per second")
    print(f"controller per iteration:  {max(r['controller_ms'] for r in runs.values()):.2f} ms at most "
          f"(target under 20 ms)")


if __name__ == "__main__":
    main()
