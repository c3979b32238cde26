"""The schedule of one candidate in one policy process: measure the round trip, load the
file, warm up, run every call once, timed, in the given order, fetch its outputs, and turn
whatever goes wrong into a Failure with a precise message (see timing.py for why)."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from adrs_spec.sandbox import timing
from adrs_spec.sandbox.adapters import AdapterSource
from adrs_spec.sandbox.candidate import CallTimedOut, CandidateProcess, ChildGone, Tampered, describe_files
from adrs_spec.sandbox.failures import death_failure, shorten
from adrs_spec.sandbox.limits import SandboxLimits
from adrs_spec.sandbox.perturb import reversed_call
from adrs_spec.sandbox.records import FAILURE_KINDS, Failure, OutputSpec


class _Stop(Exception):
    """A failure reported by the policy process; ends the candidate's run."""

    def __init__(self, failure: Failure):
        self.failure = failure


@dataclass(frozen=True)
class _Phase:
    """Where in a candidate's run we are, for messages: the call index and a label."""

    call_index: int | None
    label: str
    plain: bool = False     # a real call or loading: the policy's own message says enough


@dataclass
class PassResult:
    """One pass over the calls: the measured seconds per call (caller's order; None where the
    call did not run), and the failure that ended it, if any."""

    times_s: list[float | None]
    failure: Failure | None = None
    interface: str | None = None      # the adapter the policy ran through (None: the spec's own function)


class CandidateRun:
    """One candidate in one policy process: calibrate, load, warm up, run every call once,
    timed, and turn whatever happens into a PassResult."""

    def __init__(self, process: CandidateProcess, limits: SandboxLimits, path: str, display: str,
                 function: str, outputs: list[OutputSpec], arguments: list[str],
                 adapters: Sequence[AdapterSource] = ()):
        self.process, self.limits = process, limits
        self.path, self.display, self.function = path, display, function
        self.outputs, self.arguments, self.adapters = outputs, arguments, list(adapters)
        self.interface: str | None = None
        self.phase = _Phase(None, "while the sandbox measured its own round trip")
        self.round_trip_ns = 0

    def execute(self, calls: list[tuple], order: list[int], warmup_calls: list[tuple] | None,
                blocks: list[np.ndarray] | None) -> PassResult:
        """Run calls[i] for i in `order`; write the outputs of call i to row i of `blocks`
        (one array per output, None: do not fetch outputs)."""
        result, gone, dump = PassResult([None] * len(calls)), False, None
        try:
            self._calibrate(calls[order[0]])
            self._load()
            result.interface = self.interface
            self._warm_up(calls, order[0], warmup_calls)
            for index in order:
                result.times_s[index] = self._timed_call(index, calls[index], blocks)
            self.process.send({"op": "exit"})
        except _Stop as stop:
            result.failure = stop.failure
        except CallTimedOut:
            dump = self.process.stop_stuck()
            result.failure = Failure("timeout", f"the policy did not return within {self.limits.timeout_s:g} s "
                                                f"(the time limit per call) {self.phase.label}", self.phase.call_index)
        except ChildGone:
            gone = True
        except Tampered as error:
            result.failure = Failure("forbidden", f"the policy process sent a malformed message "
                                                  f"({shorten(str(error), 120)}); a policy must not write to the "
                                                  f"sandbox's channel", self.phase.call_index)
        status = self.process.finish()
        if gone:
            failure = death_failure(status["exit_code"], status["signal"], self.limits.memory_bytes,
                                    self.limits.file_bytes, self.phase.call_index)
            result.failure = replace(failure, message=f"{failure.message} ({self.phase.label})")
        if result.failure is None:
            result.failure = self._leftovers(status)
        if result.failure is not None:
            result.failure = self._with_context(result.failure, dump)
        return result

    def close(self) -> None:
        """Kill the process if the run was interrupted (KeyboardInterrupt), and delete its files."""
        if self.process.reaped is None:
            self.process.finish()
        self.process.remove()

    def worker_compromised(self) -> bool:
        status = self.process.reaped or {}
        return bool(status.get("worker_died") or status.get("survivors"))

    # ------------------------------------------------------------ steps
    def _calibrate(self, args: tuple) -> None:
        """The round trip of the null policy, on zeros shaped like a real call (same bytes to
        send, no workload content)."""
        blank = tuple(np.zeros_like(a) if isinstance(a, np.ndarray) else a for a in args)
        samples = [self._execute(blank)[1] for _ in range(timing.CALIBRATION_CALLS)]
        self.round_trip_ns = timing.round_trip_ns(samples)

    def _load(self) -> None:
        self.phase = _Phase(None, "while loading the policy file", plain=True)
        self.process.send({"op": "load", "path": self.path, "display": self.display, "function": self.function,
                           "arguments": self.arguments,
                           "outputs": [o.message() for o in self.outputs],
                           "adapters": [a.message() for a in self.adapters]})
        interface = self._reply(("loaded",)).get("interface")
        if interface is not None and interface not in [a.name for a in self.adapters]:
            raise Tampered(f"an unknown interface {shorten(repr(interface), 60)}")
        self.interface = interface

    def _warm_up(self, calls: list[tuple], first: int, warmup_calls: list[tuple] | None) -> None:
        """Untimed executions before the timed ones: on the caller's warm-up instances, or else
        on the first call's inputs reversed (content no timed call has)."""
        if warmup_calls:
            for number, args in enumerate(warmup_calls):
                self.phase = _Phase(None, f"on untimed warm-up call {number}")
                self._execute(args)
            return
        self.phase = _Phase(first, f"on the untimed warm-up call, which gets the inputs of call {first} reversed")
        try:
            self._execute(reversed_call(calls[first]))
        except _Stop as stop:
            self._confirm_on_real_inputs(stop, first, calls[first])

    def _timed_call(self, index: int, args: tuple, blocks: list[np.ndarray] | None) -> float:
        self.phase = _Phase(index, f"on call {index}", plain=True)
        child_ns, caller_ns = self._execute(args)
        if blocks is not None:
            self._fetch([block[index] for block in blocks])
        return timing.policy_seconds(child_ns, caller_ns, self.round_trip_ns)

    def _confirm_on_real_inputs(self, stop: _Stop, index: int, args: tuple) -> None:
        """A failure on the reversed warm-up inputs: if the real inputs fail too, report that
        (the message is then about a real call); if not, report the warm-up's failure, noted."""
        if stop.failure.kind in ("crash", "bad_output", "memory"):
            self.phase = _Phase(index, f"on call {index}", plain=True)
            self._execute(args)
        raise stop

    # ------------------------------------------------------------ messages
    def _execute(self, args: tuple) -> tuple[int, int]:
        """One execution: (the policy process's ns, the caller's ns from send to `done`)."""
        started = timing.caller_clock()
        self.process.send({"op": "call", "args": list(args)})
        done = self._reply(("done",))
        caller_ns = timing.caller_clock() - started
        self._reply(("checked",))
        child_ns = done.get("ns")
        if not isinstance(child_ns, int) or child_ns < 0:
            raise Tampered(f"a run time of {child_ns!r}")
        return child_ns, caller_ns

    def _fetch(self, rows: list[np.ndarray]) -> None:
        """Copy the outputs of the last execution into `rows` (one array per output)."""
        self.process.send({"op": "fetch"})
        if self.process.area is not None:
            self._reply(("outputs",), max_bytes=0)
            self.process.copy_shared_outputs(rows)
            return
        size = sum(math.prod(o.shape) * o.dtype.itemsize for o in self.outputs)
        values = self._reply(("outputs",), max_bytes=size).get("values")
        if not isinstance(values, list) or len(values) != len(self.outputs) or not all(
                isinstance(v, np.ndarray) and v.shape == o.shape and v.dtype == o.dtype
                for v, o in zip(values, self.outputs)):
            raise Tampered("outputs that do not match the declared ones")
        for row, value in zip(rows, values):
            row[...] = value

    def _reply(self, expected: tuple[str, ...], max_bytes: int = 1 << 20) -> dict:
        message = self.process.receive(expected, max_bytes=max_bytes)
        if message["op"] != "failure":
            return message
        kind, text, detail = message.get("kind"), message.get("message"), message.get("detail")
        if kind not in FAILURE_KINDS or not isinstance(text, str) or not isinstance(detail, (str, type(None))):
            raise Tampered("a failure record of unknown form")
        if not self.phase.plain:
            text = f"{text} ({self.phase.label})"
        raise _Stop(Failure(kind, text, self.phase.call_index, detail))

    # ------------------------------------------------------------ after the run
    def _leftovers(self, status: dict) -> Failure | None:
        if status.get("survivors"):
            return Failure("forbidden", f"the policy started processes that could not be stopped "
                                        f"({len(status['survivors'])} left running)")
        files = self.process.written_files()
        if files:
            return Failure("forbidden", f"the policy wrote files in its working directory: {describe_files(files)}; "
                                        f"a policy must not write files (they were deleted)")
        return None

    def _with_context(self, failure: Failure, dump: str | None) -> Failure:
        """Add what the policy printed (last lines) and, after a timeout, where it was stuck."""
        printed = self.process.printed_tail()
        parts = ["last lines the policy printed:\n" + "\n".join("  " + line for line in printed.splitlines())
                 if printed else None,
                 failure.detail,
                 self.process.stuck_at(dump, self.path, self.display)]
        detail = "\n".join(p for p in parts if p)
        return replace(failure, detail=detail or None)
