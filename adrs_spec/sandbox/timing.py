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

Repeats: one untimed warm-up per candidate (imports, JIT compilation, caches), then for
each call `repeats` timed executions, each on inputs the policy has not seen before: the
real inputs at a position drawn at random by the caller (the policy process never knows
which execution is the real one, and the outputs are fetched only after it returns), and
cyclically shifted copies at the others (perturb.py). Arrays arrive freshly decoded for
every execution, so caching by object identity cannot pay either. The call's time is the
median of its repeats; the outputs kept are those of the real inputs.
"""
from __future__ import annotations

import random
import statistics
import time

TRUST_FACTOR = 1.25
TRUST_SLACK_NS = 2_000_000
CALIBRATION_CALLS = 3

_draw = random.SystemRandom()
caller_clock = time.perf_counter_ns


def policy_seconds(child_ns: int, caller_ns: int, round_trip_ns: int) -> float:
    """The measured time of one execution, from both clocks (see the module docstring)."""
    outside = max(caller_ns - round_trip_ns, 0)
    if outside > TRUST_FACTOR * child_ns + TRUST_SLACK_NS:
        return outside / 1e9
    return child_ns / 1e9


def round_trip_ns(samples: list[int]) -> int:
    return int(statistics.median(samples))


def real_position(repeats: int) -> int:
    """Which of the timed executions of a call gets the real inputs."""
    return _draw.randrange(repeats)


def call_seconds(times: list[float]) -> float:
    return statistics.median(times)
