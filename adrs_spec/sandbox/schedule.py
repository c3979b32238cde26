"""The schedule of one candidate in its policy process: measure the round trip, load the
file, warm up, run every call with timed repeats (timing.py), fetch the real outputs, and
turn whatever goes wrong into a Failure with a precise message."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from adrs_spec.sandbox import timing
from adrs_spec.sandbox.candidate import CallTimedOut, CandidateProcess, ChildGone, Tampered, describe_files
from adrs_spec.sandbox.failures import death_failure, shorten
from adrs_spec.sandbox.limits import SandboxLimits
from adrs_spec.sandbox.perturb import reversed_call, shifted_call
from adrs_spec.sandbox.records import FAILURE_KINDS, Failure, OutputSpec, PolicyRun


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


class CandidateRun:
    """One candidate in its policy process: calibrate, load, warm up, run every call with
    timed repeats, and turn whatever happens into a PolicyRun."""

    def __init__(self, process: CandidateProcess, limits: SandboxLimits, path: str, display: str,
                 function: str, outputs: list[OutputSpec], repeats: int, arguments: list[str]):
        self.process, self.limits = process, limits
        self.path, self.display, self.function = path, display, function
        self.outputs, self.repeats, self.arguments = outputs, repeats, arguments
        self.phase = _Phase(0, "while the sandbox measured its own round trip")
        self.round_trip_ns = 0
        self.blocks: list[np.ndarray] = []

    def execute(self, calls: list[tuple]) -> PolicyRun:
        run, gone, dump = PolicyRun(), False, None
        # One block per output for all calls: a few large allocations fault in far fewer pages
        # than one fresh array per call and output.
        self.blocks = [np.empty((len(calls), *o.shape), o.dtype) for o in self.outputs]
        try:
            self._calibrate(calls[0])
            self._load()
            self._warm_up(calls[0])
            for index, args in enumerate(calls):
                self._timed_call(run, index, args)
            self.process.send({"op": "exit"})
        except _Stop as stop:
            run.failure = stop.failure
        except CallTimedOut:
            dump = self.process.stop_stuck()
            run.failure = Failure("timeout", f"the policy did not return within {self.limits.timeout_s:g} s "
                                             f"(the time limit per call) {self.phase.label}", self.phase.call_index)
        except ChildGone:
            gone = True
        except Tampered as error:
            run.failure = Failure("forbidden", f"the policy process sent a malformed message ({shorten(str(error), 120)})"
                                               f"; a policy must not write to the sandbox's channel", self.phase.call_index)
        status = self.process.finish()
        if gone:
            failure = death_failure(status["exit_code"], status["signal"], self.limits.memory_bytes,
                                    self.limits.file_bytes, self.phase.call_index)
            run.failure = replace(failure, message=f"{failure.message} ({self.phase.label})")
        if run.ok:
            run.failure = self._leftovers(status)
        if run.failure is not None:
            run.failure = self._with_context(run.failure, dump)
        return run

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
        samples = [self._execute(args)[1] for _ in range(timing.CALIBRATION_CALLS)]
        self.round_trip_ns = timing.round_trip_ns(samples)

    def _load(self) -> None:
        self.phase = _Phase(None, "while loading the policy file", plain=True)
        self.process.send({"op": "load", "path": self.path, "display": self.display, "function": self.function,
                           "arguments": self.arguments,
                           "outputs": [[o.name, o.kind, list(o.shape)] for o in self.outputs]})
        self._reply(("loaded",))

    def _warm_up(self, args: tuple) -> None:
        self.phase = _Phase(0, "on the untimed warm-up call, which gets the inputs of call 0 reversed")
        try:
            self._execute(reversed_call(args))
        except _Stop as stop:
            self._confirm_on_real_inputs(stop, 0, args)

    def _timed_call(self, run: PolicyRun, index: int, args: tuple) -> None:
        real = timing.real_position(self.repeats)
        times, values = [], None
        for position in range(self.repeats):
            if position == real:
                self.phase = _Phase(index, f"on call {index}", plain=True)
                child_ns, caller_ns = self._execute(args)
                values = self._fetch(index)
            else:
                variant = position + 1 - (position > real)
                self.phase = _Phase(index, f"on a timed repeat of call {index}, which gets its inputs cyclically shifted")
                try:
                    child_ns, caller_ns = self._execute(shifted_call(args, variant))
                except _Stop as stop:
                    self._confirm_on_real_inputs(stop, index, args)
            times.append(timing.policy_seconds(child_ns, caller_ns, self.round_trip_ns))
        run.outputs.append(values)
        run.repeat_times_s.append(times)
        run.times_s.append(timing.call_seconds(times))

    def _confirm_on_real_inputs(self, stop: _Stop, index: int, args: tuple) -> None:
        """A failure on reversed or shifted inputs: if the real inputs fail too, report that
        (the message is then about a real call); if not, report the variant's failure, noted."""
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

    def _fetch(self, index: int) -> tuple[np.ndarray, ...]:
        """The outputs of the last execution, copied into row `index` of the output blocks."""
        self.process.send({"op": "fetch"})
        rows = [block[index] for block in self.blocks]
        if self.process.area is not None:
            self._reply(("outputs",), max_bytes=0)
            self.process.copy_shared_outputs(rows)
            return tuple(rows)
        size = sum(math.prod(o.shape) * o.dtype.itemsize for o in self.outputs)
        values = self._reply(("outputs",), max_bytes=size).get("values")
        if not isinstance(values, list) or len(values) != len(self.outputs) or not all(
                isinstance(v, np.ndarray) and v.shape == o.shape and v.dtype == o.dtype
                for v, o in zip(values, self.outputs)):
            raise Tampered("outputs that do not match the declared ones")
        for row, value in zip(rows, values):
            row[...] = value
        return tuple(rows)

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
