"""What the sandbox costs beyond the policy's own time, at the EPLB leaderboard shape
(58 layers, 256 experts, 288 replicas, 8 groups, 4 nodes, 32 gpus).

Per call: the wall time of one `run_policy` with N calls, minus the policy's time, over N.
Two readings of "the policy's time": the reported times (one median per call), and every
timed execution (one per call and timed pass, see adrs_spec/sandbox/timing.py). The second
is the sandbox's own cost (messages, copies, checks, the fork, the isolation layers,
calibration and warm-up amortized over the N calls).

Per candidate: the wall time of a 1-call `run_policy` in a torch sandbox, warm (fork from a
worker that has imported torch) vs cold (a fresh interpreter that imports torch).

    JAX_PLATFORMS=cpu python bench/validate_overhead.py [--calls 17] [--rounds 3]
"""
from __future__ import annotations

import argparse
import inspect
import os
import statistics
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from adrs_spec.sandbox import OutputSpec, Sandbox, SandboxLimits  # noqa: E402

LAYERS, EXPERTS, REPLICAS, GROUPS, NODES, GPUS = 58, 256, 288, 8, 4, 32
OUTPUTS = [OutputSpec("phy2log", "int", (LAYERS, REPLICAS)),
           OutputSpec("log2phy", "int", (LAYERS, EXPERTS, REPLICAS - EXPERTS + 1)),
           OutputSpec("logcnt", "int", (LAYERS, EXPERTS))]
TRIVIAL = '''import numpy as np
PHY2LOG = np.zeros((58, 288), np.int64)
LOG2PHY = np.zeros((58, 256, 33), np.int64)
LOGCNT = np.zeros((58, 256), np.int64)


def rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus):
    return PHY2LOG, LOG2PHY, LOGCNT
'''
LIMITS = SandboxLimits(timeout_s=60.0, memory_bytes=8 << 30)


def calls(count: int) -> list[tuple]:
    rng = np.random.default_rng(0)
    return [(rng.integers(0, 4000, size=(LAYERS, EXPERTS)).astype(np.float64), REPLICAS, GROUPS, NODES, GPUS)
            for _ in range(count)]


def per_call_overhead(sandbox: Sandbox, path: str, work: list[tuple], rounds: int) -> dict:
    """Median over rounds of (wall - reported) / N and (wall - every execution) / N, and the best
    round of the latter (the least disturbed by other work on the machine), in ms."""
    beyond_reported, beyond_executions, policy = [], [], []
    for _ in range(rounds):
        started = time.perf_counter()
        run = sandbox.run_policy(path=path, function="rebalance_experts", calls=work, outputs=OUTPUTS)
        wall = time.perf_counter() - started
        assert run.ok, run.failure
        executions = sum(sum(r) for r in run.repeat_times_s)
        beyond_reported.append((wall - sum(run.times_s)) / len(work) * 1e3)
        beyond_executions.append((wall - executions) / len(work) * 1e3)
        policy.append(statistics.median(run.times_s) * 1e3)
    return {"reported": statistics.median(beyond_reported), "executions": statistics.median(beyond_executions),
            "best": min(beyond_executions), "policy": statistics.median(policy)}


def candidate_startup(warm: bool, path: str, work: list[tuple], rounds: int) -> tuple[float, float]:
    """(median ms from run_policy start to its result for a 1-call candidate, worker start ms)."""
    started = time.perf_counter()
    with Sandbox(array="torch", limits=LIMITS, warm=warm) as sandbox:
        worker_ms = (time.perf_counter() - started) * 1e3
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            run = sandbox.run_policy(path=path, function="rebalance_experts", calls=work[:1], outputs=OUTPUTS)
            times.append((time.perf_counter() - started) * 1e3)
            assert run.ok, run.failure
    return statistics.median(times), worker_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=17, help="calls per run_policy (instances of one set)")
    parser.add_argument("--rounds", type=int, default=3, help="repetitions of each measurement (median)")
    args = parser.parse_args()
    work = calls(args.calls)
    with tempfile.TemporaryDirectory() as folder:
        trivial = os.path.join(folder, "trivial.py")
        with open(trivial, "w") as handle:
            handle.write(TRIVIAL)
        policies = {"trivial (numpy zeros)": trivial,
                    "round_robin.py": os.path.join(ROOT, "specs", "eplb", "policies", "round_robin.py")}
        rows = []
        for warm in (True, False):
            with Sandbox(array="numpy", limits=LIMITS, warm=warm) as sandbox:
                for name, path in policies.items():
                    rows.append((name, "warm" if warm else "cold", per_call_overhead(sandbox, path, work, args.rounds)))
        startup = {warm: candidate_startup(warm, trivial, work, args.rounds) for warm in (True, False)}
    report(rows, startup, args.calls)


def report(rows: list, startup: dict, count: int) -> None:
    print(f"EPLB leaderboard shape {LAYERS}x{EXPERTS}, {REPLICAS} replicas; {count} calls per candidate, "
          f"{inspect.signature(Sandbox).parameters['repeats'].default} timed pass(es) per call")
    print(f"{'policy':24} {'mode':5} {'policy ms':>10} {'overhead/call ms':>17} {'beyond all repeats ms':>22} "
          f"{'(best round)':>12}")
    by_key = {}
    for name, mode, figures in rows:
        by_key[(name, mode)] = figures
        print(f"{name:24} {mode:5} {figures['policy']:10.3f} {figures['reported']:17.3f} {figures['executions']:22.3f} "
              f"{figures['best']:12.3f}")
    for name in dict.fromkeys(name for name, _, _ in rows):
        warm, cold = by_key[(name, "warm")], by_key[(name, "cold")]
        print(f"cold/warm overhead per call, {name}: {cold['executions'] / warm['executions']:.1f}x")
    (warm_ms, worker_ms), (cold_ms, _) = startup[True], startup[False]
    print(f"per-candidate wall, 1 call, torch imported: warm {warm_ms:.1f} ms, cold {cold_ms:.1f} ms, "
          f"cold/warm {cold_ms / warm_ms:.1f}x (warm worker start, once per Sandbox: {worker_ms:.0f} ms)")
    worst = max(by_key[(name, 'warm')]['executions'] for name, _, _ in rows)
    best = max(by_key[(name, 'warm')]['best'] for name, _, _ in rows)
    verdict = "meets" if worst < 5.0 else "misses"
    print(f"warm overhead beyond the policy's executions: {worst:.2f} ms per call, median of rounds "
          f"({verdict} the 5 ms target); best round {best:.2f} ms")


if __name__ == "__main__":
    main()
