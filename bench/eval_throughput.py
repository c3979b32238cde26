"""Throughput of the generated EPLB evaluator (guards + simulator) against hand-written ones.

At the leaderboard shape (58 layers, 256 experts, 288 slots, 32 GPUs, 4 nodes, 8 groups),
on random valid placements, batches of 1, 16, 64 and 256 instances. In the same process:
(a) a per-layer, per-expert Python loop evaluator written the way public evaluators are,
(b) a hand-vectorized numpy evaluator, and (c) the reference interpreter. The interpreter
walks every point of every reduction (slots_listed_once alone is 141M points per instance
at the leaderboard shape), so it is timed at a small shape, against the generated evaluator
at that same shape. All ratios are against runs in this process, so a noisy machine
shifts every column alike.

    python bench/eval_throughput.py [--batches 1 16 64 256] [--repeats 5] [--float64]

Peak memory of the generated evaluator at the largest batch is measured in a fresh child
process (its peak RSS over what the same process holds before evaluating).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [ROOT, HERE]

from eplb_reference import loop_evaluate, numpy_evaluate, random_valid_outputs  # noqa: E402

SHAPE = {"layers": 58, "experts": 256, "replicas": 288, "groups": 8, "nodes": 4, "gpus": 32}
SMALL = {"layers": 4, "experts": 32, "replicas": 48, "groups": 4, "nodes": 2, "gpus": 8}


def instances(batch: int, seed: int = 0, shape: dict = SHAPE) -> tuple[dict, dict]:
    rng = np.random.default_rng(seed)
    L, E, R, P = (shape[k] for k in ("layers", "experts", "replicas", "gpus"))
    load = rng.multinomial(819200, rng.dirichlet(np.ones(E)), size=(batch, 2, L)).astype(np.float64)
    phy2log, log2phy, logcnt = random_valid_outputs(rng, L, E, R, P, batch)
    return ({"weight": load[:, 0], "next": load[:, 1]},
            {"phy2log": phy2log, "log2phy": log2phy, "logcnt": logcnt})


def best_time(fn, repeats: int) -> float:
    """The fastest of `repeats` runs (the least disturbed by other work on the machine)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def generated_evaluator(dtype: str, shape: dict = SHAPE):
    from adrs_spec.evaluator import load_generated

    module = load_generated("eplb", os.path.join(ROOT, "generated"))
    evaluate = module.make_evaluator(shape, dtype=dtype)

    def run(fields, outputs):
        out = evaluate(fields, outputs)
        return {k: np.asarray(v) for k, v in out["metrics"].items()}, \
            {k: np.asarray(v) for k, v in out["passed"].items()}
    return run


def reference_evaluator(shape: dict):
    from adrs_spec.backends.reference import evaluate_instance
    from adrs_spec.frontend.check import compile_file
    from adrs_spec.statics import bind

    spec = compile_file(os.path.join(ROOT, "specs/eplb.adrs"))
    env = bind(spec, shape)
    return lambda data: evaluate_instance(spec, env, data)


def measure_reference(dtype: str, batch: int = 16) -> dict:
    """Seconds per instance of the reference interpreter and the generated evaluator at SMALL."""
    run = generated_evaluator(dtype, SMALL)
    reference = reference_evaluator(SMALL)
    fields, outputs = instances(batch, shape=SMALL)
    metrics, _ = run(fields, outputs)
    first = {**{k: v[0] for k, v in fields.items()}, **{k: v[0] for k, v in outputs.items()}}
    result = reference(first)
    assert abs(result.metrics["balance"] - float(metrics["balance"][0])) < 1e-5, "evaluators disagree"
    return {"reference_s": best_time(lambda: reference(first), 1),
            "generated_s": best_time(lambda: run(fields, outputs), 5) / batch}


def measure(batches: list[int], repeats: int, dtype: str) -> list[dict]:
    run = generated_evaluator(dtype)
    gpus = SHAPE["gpus"]
    rows = []
    for batch in batches:
        fields, outputs = instances(batch)
        metrics, passed = run(fields, outputs)          # compile for this batch size
        assert all(bool(np.all(p)) for p in passed.values()), "random valid outputs must pass"
        t_gen = best_time(lambda: run(fields, outputs), repeats)
        valid, balance = numpy_evaluate(fields["next"], outputs["phy2log"], outputs["log2phy"],
                                        outputs["logcnt"], gpus)
        assert valid.all() and np.allclose(balance, metrics["balance"], rtol=1e-5), "evaluators disagree"
        t_np = best_time(lambda: numpy_evaluate(fields["next"], outputs["phy2log"], outputs["log2phy"],
                                                outputs["logcnt"], gpus), repeats)
        one = lambda: loop_evaluate(fields["next"][0], outputs["phy2log"][0], outputs["log2phy"][0],  # noqa: E731
                                    outputs["logcnt"][0], gpus)
        t_loop = best_time(one, 1) * batch          # per instance, times the batch
        rows.append({"batch": batch, "generated_s": t_gen, "numpy_s": t_np, "loop_s": t_loop})
        print(f"  batch {batch} measured", file=sys.stderr, flush=True)
    return rows


def peak_memory_child(batch: int, dtype: str) -> dict:
    """Run one evaluation at `batch` in a fresh process and report its memory (MiB)."""
    code = (f"import sys, json, resource; sys.argv = ['x']; sys.path[:0] = [{ROOT!r}, {HERE!r}]\n"
            "import eval_throughput as b\n"
            f"run = b.generated_evaluator({dtype!r}); f, o = b.instances({batch})\n"
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "run(f, o); run(f, o)\n"
            "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "inputs = sum(v.nbytes for d in (f, o) for v in d.values())\n"
            "print(json.dumps({'peak_mib': after / 1024, 'growth_mib': (after - before) / 1024,"
            " 'inputs_mib': inputs / 2**20}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu")})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64, 256])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--float64", action="store_true", help="evaluate in float64 (default float32)")
    args = ap.parse_args()
    dtype = "float64" if args.float64 else "float32"
    import jax

    print(f"EPLB evaluator throughput at {SHAPE}, {dtype}, JAX on {jax.devices()[0].platform}")
    rows = measure(args.batches, args.repeats, dtype)
    head = f"{'batch':>5} | {'generated/s':>11} {'numpy/s':>9} {'loop/s':>8} | {'vs loop':>8} {'vs numpy':>8}"
    print(head)
    print("-" * len(head))
    for r in rows:
        b = r["batch"]
        print(f"{b:>5} | {b / r['generated_s']:>11.1f} {b / r['numpy_s']:>9.1f} {b / r['loop_s']:>8.2f} | "
              f"{r['loop_s'] / r['generated_s']:>7.0f}x {r['numpy_s'] / r['generated_s']:>7.2f}x", flush=True)
    ref = measure_reference(dtype)
    print(f"reference interpreter at {SMALL}: {1 / ref['reference_s']:.2f} instances/s; generated "
          f"{1 / ref['generated_s']:.0f}/s at batch 16: {ref['reference_s'] / ref['generated_s']:.0f}x", flush=True)
    mem = peak_memory_child(max(args.batches), dtype)
    print(f"memory at batch {max(args.batches)}: peak RSS {mem['peak_mib']:.0f} MiB "
          f"(+{mem['growth_mib']:.0f} MiB while evaluating; inputs {mem['inputs_mib']:.0f} MiB)")


if __name__ == "__main__":
    main()
