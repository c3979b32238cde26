"""One solver query with a timeout, ended by an outcome, never by an exception.

The search runs in a worker thread (Z3 releases the interpreter lock while it searches) with
Z3's own Ctrl-C handling off: Ctrl-C then reaches Python as KeyboardInterrupt at once, the
search is interrupted, and the interrupt goes on to the caller, so the command stops cleanly
instead of reporting UNKNOWN.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Sequence

import z3


@dataclass(frozen=True)
class Outcome:
    status: str                         # sat, unsat or unknown
    model: z3.ModelRef | None = None
    core: tuple = ()                    # the assumptions of an unsat core
    reason: str = ""                    # why unknown


def solve(solver, assumptions: Sequence = (), timeout_s: float = 10.0) -> Outcome:
    """Check `solver` (a z3.Solver or z3.Optimize) under `assumptions` within `timeout_s`."""
    solver.set("timeout", max(1, int(timeout_s * 1000)))
    solver.set("ctrl_c", False)
    box: dict = {}

    def run() -> None:
        try:
            box["result"] = solver.check(*assumptions)
        except z3.Z3Exception as err:        # interrupted, or out of resources
            box["error"] = str(err)

    worker = threading.Thread(target=run, name="z3-check", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.05)
    except KeyboardInterrupt:
        solver.interrupt()
        worker.join()
        raise
    result = box.get("result")
    if result == z3.sat:
        return Outcome("sat", model=solver.model())
    if result == z3.unsat:
        core = tuple(solver.unsat_core()) if isinstance(solver, z3.Solver) else ()
        return Outcome("unsat", core=core)
    reason = box.get("error") or solver.reason_unknown()
    return Outcome("unknown", reason="timeout" if reason == "canceled" else reason)
