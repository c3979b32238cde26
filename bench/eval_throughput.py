"""Throughput of the generated EPLB evaluator (guards + simulator) against hand-written ones.

At the leaderboard shape (58 layers, 256 experts, 288 slots, 32 GPUs, 4 nodes, 8 groups),
on random valid placements, batches of 1, 16, 64 and 256 instances. In the same process:
(a) per-layer, per-expert Python loop evaluators: the algorithm of the public leaderboard's
EPLB evaluator ("public loop": its checks, then slot loads built from the `log2phy` lists
with torch ops, one window at a time; it checks less than the spec), and a loop over Python
lists that checks every invariant ("list loop"); both are timed per instance (best of 3),
as their cost does not depend on the batch; (b) a hand-vectorized numpy evaluator, and
(c) the reference interpreter. The interpreter
walks every point of every reduction (slots_listed_once alone is 141M points per instance
at the leaderboard shape), so it is timed at a small shape, against the generated evaluator
at that same shape. All ratios are against runs in this process, so a noisy machine
shifts every column alike.

    python bench/eval_throughput.py [--batches 1 16 64 256] [--repeats 5] [--float64]

Memory at the largest batch is measured in a fresh child process that loads inputs written
by this one: its peak RSS, and the growth of that peak over what it holds once the evaluator
is compiled and the inputs are loaded (what evaluating the batch costs).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [ROOT, HERE]

from eplb_reference import loop_evaluate, numpy_evaluate, public_evaluate, random_valid_outputs  # noqa: E402

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
    run.chunk = getattr(evaluate, "chunk", 1)
    return run


def reference_evaluator(shape: dict):
    from adrs_spec.backends.reference.instance import evaluate_instance
    from adrs_spec.compile import compile_file
    from adrs_spec.lang.statics import bind

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


def measure_loops() -> tuple[float, float]:
    """Seconds per instance (best of 3) of the list loop and of the leaderboard's algorithm
    (on torch tensors, as a torch policy returns them: int64 outputs, the window's integer
    token counts)."""
    import torch

    fields, outputs = instances(1, seed=1)
    args = (fields["next"][0], outputs["phy2log"][0], outputs["log2phy"][0], outputs["logcnt"][0],
            SHAPE["gpus"])
    tensors = (torch.as_tensor(fields["next"][0].astype(np.int64)),
               *(torch.as_tensor(outputs[k][0]) for k in ("phy2log", "log2phy", "logcnt")))
    valid, balance = public_evaluate(*tensors, SHAPE["gpus"])
    assert valid and abs(balance - loop_evaluate(*args)[1]) < 1e-5, "evaluators disagree"
    return best_time(lambda: loop_evaluate(*args), 3), best_time(lambda: public_evaluate(*tensors, SHAPE["gpus"]), 3)


def measure(batches: list[int], repeats: int, dtype: str) -> list[dict]:
    run = generated_evaluator(dtype)
    gpus = SHAPE["gpus"]
    list_loop_s, public_loop_s = measure_loops()
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
        rows.append({"batch": batch, "generated_s": t_gen, "numpy_s": t_np, "loop_s": list_loop_s * batch,
                     "public_loop_s": public_loop_s * batch})
        print(f"  batch {batch} measured", file=sys.stderr, flush=True)
    return rows


def rss_mib(field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process in MiB, from /proc/self/status.

    Not getrusage's ru_maxrss: Linux carries that over from the parent into a forked child,
    so a child started by a large process would report the parent's peak.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def peak_memory_child(batch: int, dtype: str) -> dict:
    """Memory (MiB) of one evaluation at `batch` in a fresh process, beyond holding its inputs.

    This process writes the inputs to temporary .npy files (generated 32 instances at a time,
    which bounds the generator's temporaries); the child builds the evaluator, loads the
    inputs, compiles on two chunks of them, records its RSS, evaluates the batch twice and
    records its peak RSS. Input generation (large temporaries) never happens in the
    child, so `growth` is what evaluating costs: converted copies, device buffers and
    intermediates of the chunks in flight, results.
    """
    parts = [instances(min(32, batch - start), seed=start) for start in range(0, batch, 32)]
    fields, outputs = ({k: np.concatenate([p[i][k] for p in parts]) for k in parts[0][i]} for i in (0, 1))
    del parts
    with tempfile.TemporaryDirectory() as folder:
        for name, x in {**fields, **outputs}.items():
            np.save(os.path.join(folder, f"{name}.npy"), x)
        inputs = sum(v.nbytes for d in (fields, outputs) for v in d.values())
        del fields, outputs
        code = (f"import sys, json; sys.argv = ['x']; sys.path[:0] = [{ROOT!r}, {HERE!r}]\n"
                "import numpy as np, eval_throughput as b\n"
                f"run = b.generated_evaluator({dtype!r}); load = lambda k: np.load({folder!r} + f'/{{k}}.npy')\n"
                "f = {k: load(k) for k in ('weight', 'next')}\n"
                "o = {k: load(k) for k in ('phy2log', 'log2phy', 'logcnt')}\n"
                "n = min(len(f['next']), 2 * run.chunk)   # compiles for the chunk size\n"
                "run({k: v[:n] for k, v in f.items()}, {k: v[:n] for k, v in o.items()})\n"
                "held, before = b.rss_mib('VmRSS'), b.rss_mib('VmHWM')\n"
                "run(f, o); run(f, o)\n"
                "print(json.dumps({'held_mib': held, 'peak_before_mib': before, 'peak_mib': b.rss_mib('VmHWM')}))\n")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={**os.environ, "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu")})
    mem = json.loads(out.stdout.strip().splitlines()[-1])
    return {**mem, "inputs_mib": inputs / 2**20,
            "growth_mib": mem["peak_mib"] - mem["held_mib"]}


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
    head = (f"{'batch':>5} | {'generated/s':>11} {'numpy/s':>9} {'list loop/s':>11} {'public loop/s':>13} | "
            f"{'vs public loop':>14} {'vs list loop':>12} {'vs numpy':>8}")
    print(head)
    print("-" * len(head))
    for r in rows:
        b, gen = r["batch"], r["generated_s"]
        print(f"{b:>5} | {b / gen:>11.1f} {b / r['numpy_s']:>9.1f} {b / r['loop_s']:>11.2f} "
              f"{b / r['public_loop_s']:>13.3f} | {r['public_loop_s'] / gen:>13.0f}x {r['loop_s'] / gen:>11.0f}x "
              f"{r['numpy_s'] / gen:>7.2f}x", flush=True)
    ref = measure_reference(dtype)
    print(f"reference interpreter at {SMALL}: {1 / ref['reference_s']:.2f} instances/s; generated "
          f"{1 / ref['generated_s']:.0f}/s at batch 16: {ref['reference_s'] / ref['generated_s']:.0f}x", flush=True)
    mem = peak_memory_child(max(args.batches), dtype)
    print(f"memory at batch {max(args.batches)}: peak RSS {mem['peak_mib']:.0f} MiB; "
          f"{mem['held_mib']:.0f} MiB held after compiling and loading the inputs "
          f"({mem['inputs_mib']:.0f} MiB of them inputs, as the policy returns them); "
          f"+{mem['growth_mib']:.0f} MiB while evaluating")


if __name__ == "__main__":
    main()
