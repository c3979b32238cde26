"""One solver query with a timeout, ended by an outcome, never by an exception.

The search runs in a worker thread (Z3 releases the interpreter lock while it searches) with
Z3's own Ctrl-C handling off: Ctrl-C then reaches Python as KeyboardInterrupt at once, the
search is interrupted and waited for (the solver is never used by two threads), and the
interrupt goes on to the caller, so the command stops cleanly instead of reporting UNKNOWN.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Sequence

import z3

POLL_S = 0.02


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
    lock, phase, done = threading.Lock(), ["new"], threading.Event()

    def run() -> None:
        with lock:
            if phase[0] == "cancelled":  # Ctrl-C came while the thread was starting
                return
            phase[0] = "running"
        try:
            box["result"] = solver.check(*assumptions)
        except z3.Z3Exception as err:        # interrupted, or out of resources
            box["error"] = str(err)
        finally:
            done.set()

    worker = threading.Thread(target=run, name="z3-check", daemon=True)
    try:
        worker.start()          # inside the try: Ctrl-C can land in start()'s own wait
        wait(done)
    except KeyboardInterrupt:
        with lock:
            running, phase[0] = phase[0] == "running", "cancelled"
        if running:
            _stop(solver, done)
        raise
    result = box.get("result")
    if result == z3.sat:
        return Outcome("sat", model=solver.model())
    if result == z3.unsat:
        core = tuple(solver.unsat_core()) if isinstance(solver, z3.Solver) else ()
        return Outcome("unsat", core=core)
    reason = box.get("error") or solver.reason_unknown()
    return Outcome("unknown", reason="timeout" if reason == "canceled" else reason)


def wait(done: threading.Event) -> None:
    """Wait for the search by polling, not with Thread.join or Event.wait: Python 3.11's join
    can mark a running thread as finished when Ctrl-C lands inside it, and the solver would
    then be used by two threads at once. Ctrl-C landing here is safe (adrs_spec.interrupt
    raises it only here)."""
    pause = 0.0005                      # most queries take milliseconds: look soon, then less often
    while not done.is_set():
        time.sleep(pause)
        pause = min(2 * pause, POLL_S)


def _stop(solver, done: threading.Event) -> None:
    """Stop the search and wait for it to end, so that nobody touches the solver while it
    runs. An interrupt that comes before the search has begun does nothing, so it is repeated;
    a second Ctrl-C does not cut the wait short."""
    while not done.is_set():
        try:
            solver.interrupt()
            time.sleep(POLL_S)
        except KeyboardInterrupt:
            continue
