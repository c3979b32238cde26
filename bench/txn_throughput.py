"""Schedules per second: the generated txn_scheduling evaluator against plain Python.

On the ADRS leaderboard's three public workloads (tests/fixtures/txn_leaderboard), batches
of random orders. In the same process: the generated evaluator (guards, both simulators of
the spec and its metrics, jit + vmap, one call per batch) and two plain-Python simulators
written to the leaderboard's semantics (bench/txn_reference.py): the leaderboard's own
algorithm (sorted lock lists per key), and a leaner one with two numbers per key. Every
makespan is checked equal across the three before anything is timed.

    python bench/txn_throughput.py [--batches 1 64 256] [--repeats 5]
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [ROOT, HERE]

from txn_reference import lock_list_makespan, parse, table_makespan  # noqa: E402

from adrs_spec.workloads.txn_json import parse_txn_workload  # noqa: E402

FIXTURES = os.path.join(ROOT, "tests", "fixtures", "txn_leaderboard")


def evaluator_module():
    path = os.path.join(ROOT, "generated", "txn_scheduling", "evaluator.py")
    spec = importlib.util.spec_from_file_location("txn_evaluator", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["txn_evaluator"] = module
    spec.loader.exec_module(module)
    return module


def best_time(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64, 256])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    module = evaluator_module()
    rng = np.random.default_rng(0)
    print(f"{'workload':10} {'batch':>5} {'generated /s':>13} {'lock lists /s':>14} {'tables /s':>10} "
          f"{'x lock lists':>13} {'x tables':>9}")
    for k in (1, 2, 3):
        text = open(os.path.join(FIXTURES, f"workload_{k}.json")).read()
        fields, params = parse_txn_workload(text)
        txns = parse(text)
        evaluate = module.make_evaluator(params)
        for batch in args.batches:
            orders = np.stack([rng.permutation(params["txns"]) for _ in range(batch)])
            instances = {name: np.repeat(a[None], batch, axis=0) for name, a in fields.items()}
            result = evaluate(instances, {"order": orders})              # compiles
            got = np.asarray(result["metrics"]["makespan"]).astype(int).tolist()
            lists = [lock_list_makespan(txns, o.tolist()) for o in orders]
            tables = [table_makespan(txns, o.tolist()) for o in orders]
            assert got == lists == tables, (k, batch)

            def generated():
                out = evaluate(instances, {"order": orders})
                np.asarray(out["metrics"]["makespan"])
            t_gen = best_time(generated, args.repeats) / batch
            sample = [o.tolist() for o in orders[:min(batch, 64)]]
            t_list = best_time(lambda: [lock_list_makespan(txns, o) for o in sample], args.repeats) / len(sample)
            t_table = best_time(lambda: [table_makespan(txns, o) for o in sample], args.repeats) / len(sample)
            print(f"{k:<10} {batch:>5} {1 / t_gen:>13,.0f} {1 / t_list:>14,.0f} {1 / t_table:>10,.0f} "
                  f"{t_list / t_gen:>12.1f}x {t_table / t_gen:>8.1f}x")


if __name__ == "__main__":
    main()
