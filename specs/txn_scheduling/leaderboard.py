"""Adapter: the ADRS leaderboard's txn_scheduling interface for txn_scheduling.adrs.

A leaderboard policy defines `get_best_schedule(workload, num_seqs)` and returns
`(makespan, schedule)`. Its file imports `Workload` from `txn_simulator` and the three
workloads from `workloads`: loading this adapter provides both modules in the policy's
process (`workloads.WORKLOAD_1..3` are a one-transaction stand-in, so those imports succeed;
they are never scored). Each instance becomes a `Workload` holding its transactions the way
the leaderboard's does (`txns[t]`: a list of (`"r"` or `"w"`, key, position from 1, length);
`num_txns`; `workload`, the operation strings) and a cost oracle, `get_opt_seq_cost(seq)`:
the makespan of a sequence (a prefix too) by the spec's own executor, in plain Python, in the
policy's process, so its time is the policy's time. `num_seqs` is 10, as the leaderboard
passes. Of the returned pair only the schedule counts: the makespan the policy claims is
ignored, and the score comes from the spec's simulator.
"""
from __future__ import annotations

import sys
import types

import numpy as np

FUNCTION = "get_best_schedule"
ARGUMENTS = ("workload", "num_seqs")
NUM_SEQS = 10


class Workload:
    """One instance's transactions, as the leaderboard's `txn_simulator.Workload` shows them."""

    def __init__(self, key, write, offset, length, debug: bool = False):
        self.debug = debug
        self.verify = False
        self.txns = []
        self.workload = []
        for t in range(len(length)):
            ops = [("w" if write[t][j] == 1 else "r", str(int(key[t][j])), int(offset[t][j]) + 1, int(length[t]))
                   for j in range(len(key[t])) if key[t][j] >= 0]
            self.txns.append(ops)
            slots = ["*"] * int(length[t])
            for kind, name, position, _ in ops:
                slots[position - 1] = f"{kind}-{name}"
            self.workload.append(" ".join(slots))
        self.num_txns = len(self.txns)

    def get_opt_seq_cost(self, txn_seq) -> int:
        """The makespan of running the transactions of `txn_seq` in that order: each starts as
        early as its locks allow (a read after the latest write lock on its key, a write after
        the latest lock of either kind), operation at position p holding its key at start + p - 1."""
        last_write: dict[str, int] = {}
        last_lock: dict[str, int] = {}
        makespan = 0
        for t in txn_seq:
            ops = self.txns[t]
            if not ops:
                continue
            start = 1
            for kind, key, position, _ in ops:
                held = last_lock.get(key, 0) if kind == "w" else last_write.get(key, 0)
                start = max(start, held + 2 - position)
            makespan = max(makespan, start + ops[0][3] - 1)
            for kind, key, position, _ in ops:
                time = start + position - 1
                last_lock[key] = max(last_lock.get(key, 0), time)
                if kind == "w":
                    last_write[key] = max(last_write.get(key, 0), time)
        return makespan


def _provide_modules() -> None:
    """`txn_simulator` and `workloads`, which leaderboard policy files import at their top."""
    simulator = types.ModuleType("txn_simulator")
    simulator.Workload = Workload
    stand_in = types.ModuleType("workloads")
    stand_in.WORKLOAD_1 = stand_in.WORKLOAD_2 = stand_in.WORKLOAD_3 = '{"txn0": "r-0"}'
    sys.modules.setdefault("txn_simulator", simulator)
    sys.modules.setdefault("workloads", stand_in)


_provide_modules()


def inputs(key, write, offset, length):
    return (Workload(key, write, offset, length), NUM_SEQS), len(length)


def outputs(result, txns):
    schedule = result
    if isinstance(result, tuple) and len(result) == 2 and not isinstance(result[1], (int, np.integer)):
        schedule = result[1]              # (claimed makespan, schedule): the claim is ignored
    if not isinstance(schedule, (list, tuple, np.ndarray)):
        raise ValueError(f"expected (makespan, schedule) with the schedule a list of transaction indices, "
                         f"got {type(result).__name__}")
    order = []
    for position, t in enumerate(schedule):
        if isinstance(t, (bool, np.bool_)) or not isinstance(t, (int, np.integer)):
            raise ValueError(f"schedule entry {position} is {t!r}, not a transaction index")
        order.append(int(t))
    if len(order) != txns:
        raise ValueError(f"the schedule lists {len(order)} transactions; the workload has {txns}, each "
                         f"to be listed once")
    return np.array(order, dtype=np.int64)
