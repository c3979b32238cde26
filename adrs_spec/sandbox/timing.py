"""How a policy's runtime is measured, and why it cannot be faked cheaply.

Two clocks see every timed call:

- the policy process's clock (child.py): `time.perf_counter_ns`, bound before any policy
  code exists, read right before and after the call. It is precise (no process wake-ups
  in it), and replacing `time.perf_counter`, `time.time` or `time.monotonic` from the
  policy does not touch it. But the policy runs in that process and could, with enough
  effort (patching the sandbox's modules, ctypes), falsify the number it reports.
- the caller's clock: from sending the call to receiving "done", minus the same round trip
  measured with a null function before the policy file was even loaded (the median of a
  few). The policy cannot reach it, but it carries pipe and scheduling noise (tens of
  microseconds, more on a loaded machine).

The reported time is the policy process's figure unless the caller's clock says the call
took clearly longer (more than 1.25x it plus 2 ms); then the caller's figure is used. An
honest policy gets the precise number; a policy that falsifies its report is measured by
the caller, and can hide at most about a fifth of its time plus 2 ms.

What is timed (the schedule, schedule.py and runner.py): every timed execution is a call on
one of the real instances the caller passed, each exactly once per policy process, and its
outputs are the ones kept, so no execution is a copy the policy could recognise or answer
from a cache: memoizing inputs gains nothing, because no timed input comes twice (as long as
the caller's instances are distinct). The order of the calls may be shuffled with a seed
(`execution_order`). Before the timed calls, one untimed warm-up (imports, JIT compilation,
caches) runs on the caller's warm-up instances, or else on the first call's inputs reversed
along their first and last axes (perturb.py): content that no timed call has. Arrays arrive
freshly decoded for every execution, so caching by object identity cannot pay either. A
call's time is that one execution; with `repeats` > 1, each further pass runs every call
again in a fresh policy process (nothing it cached survives) and a call's time is the median
over the passes.
"""
from __future__ import annotations

import random
import statistics
import time

TRUST_FACTOR = 1.25
TRUST_SLACK_NS = 2_000_000
CALIBRATION_CALLS = 3

caller_clock = time.perf_counter_ns


def policy_seconds(child_ns: int, caller_ns: int, round_trip_ns: int) -> float:
    """The measured time of one execution, from both clocks (see the module docstring)."""
    outside = max(caller_ns - round_trip_ns, 0)
    if outside > TRUST_FACTOR * child_ns + TRUST_SLACK_NS:
        return outside / 1e9
    return child_ns / 1e9


def round_trip_ns(samples: list[int]) -> int:
    return int(statistics.median(samples))


def execution_order(count: int, seed: int | None, timed_pass: int = 0) -> list[int]:
    """The order in which `count` calls run: as given when `seed` is None, else a shuffle
    drawn from the seed (and the pass number, so every pass gets its own)."""
    order = list(range(count))
    if seed is not None:
        random.Random(f"{seed}:{timed_pass}").shuffle(order)
    return order


def call_seconds(times: list[float]) -> float:
    return statistics.median(times)
