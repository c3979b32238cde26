"""`Sandbox.run_policy`: run one candidate policy file on a list of calls in its own process,
and turn everything that can go wrong into a Failure record."""
from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from dataclasses import replace
from typing import Sequence

import numpy as np

from adrs_spec.sandbox import isolation, timing
from adrs_spec.sandbox.adapters import AdapterSource
from adrs_spec.sandbox.candidate import CandidateProcess
from adrs_spec.sandbox.convert import ARRAY_LIBRARIES
from adrs_spec.sandbox.isolation import Isolation
from adrs_spec.sandbox.limits import SandboxLimits, format_bytes
from adrs_spec.sandbox.records import Failure, OutputSpec, PolicyRun
from adrs_spec.sandbox.schedule import CandidateRun, PassResult
from adrs_spec.sandbox.worker import Worker, WorkerDied


class Sandbox:
    """Runs untrusted policy files in separate processes (see the package docstring).

    array:   the array type the policy receives ("numpy", "torch", "jax").
    limits:  timeout per call, memory, file size (SandboxLimits).
    warm:    True: one worker process imports the array library once and forks a policy
             process per candidate; False: a fresh interpreter per candidate (slower; for
             comparison, or if forking misbehaves with some library).
    repeats: timed passes over the calls, each in a fresh policy process (timing.py); a
             call's time is the median over the passes. 1 (one timed execution per call) is
             enough where the times of many calls are aggregated.
    Creating a Sandbox makes this process non-dumpable (isolation.protect_caller): it holds
    the hidden data. Use as a context manager, or call close(). Not thread-safe: one Sandbox
    per thread.
    """

    def __init__(self, array: str = "numpy", limits: SandboxLimits | None = None, warm: bool = True,
                 repeats: int = 1):
        if array not in ARRAY_LIBRARIES:
            raise ValueError(f"array must be one of {', '.join(ARRAY_LIBRARIES)}, not {array!r}")
        if repeats < 1:
            raise ValueError(f"repeats must be at least 1, not {repeats}")
        self.array, self.limits, self.warm, self.repeats = array, limits or SandboxLimits(), warm, repeats
        self._caller_protected = isolation.protect_caller()
        self._state = _State()
        self._close = weakref.finalize(self, self._state.release)

    def __enter__(self) -> "Sandbox":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        """Create the scratch root and, in warm mode, start the worker (else done lazily)."""
        if not self._close.alive:
            raise RuntimeError("this Sandbox is closed; create a new one")
        if self._state.root is None:
            self._state.root = tempfile.mkdtemp(prefix="adrs-sandbox-")
        if self.warm and self._state.worker is None:
            self._state.worker = self._state.started(Worker(self.array, self._state.root))

    def close(self) -> None:
        self._close()

    @property
    def worker_pid(self) -> int | None:
        """The pid of the warm worker process, if one is running."""
        worker = self._state.worker
        return worker.pid if worker is not None and worker.alive() else None

    @property
    def isolation(self) -> Isolation:
        """The kernel layers around every policy process (probed once per worker; in cold
        mode, a worker is started to find out if none has run yet)."""
        if self._state.isolation is None:
            self.start()
            worker = self._worker()
            if not self.warm:
                worker.stop()
        return replace(self._state.isolation, caller_protected=self._caller_protected,
                       missing=self._state.isolation.missing + (() if self._caller_protected else (
                           "a non-dumpable caller (prctl refused)",)))

    @property
    def scratch_dir(self) -> str | None:
        """The temporary directory that holds the candidates' scratch directories."""
        return self._state.root

    def run_policy(self, path: str, function: str, calls: Sequence[tuple], outputs: Sequence[OutputSpec],
                   repeats: int | None = None, arg_names: Sequence[str] | None = None, *,
                   seed: int | None = None, warmup_calls: Sequence[tuple] | None = None,
                   adapters: Sequence[AdapterSource] = ()) -> PolicyRun:
        """Run `function` of the policy file at `path` on every call (positional arguments:
        numpy arrays and Python scalars, one distinct instance per call) and check its
        returns against `outputs`.

        Every call runs once per timed pass and is timed; outputs[i] and times_s[i] belong to
        calls[i] whatever the order of execution. seed: shuffles that order (None: the order
        given). Shuffling shows a stateful policy later calls before earlier ones, so do not
        shuffle calls where one call's input is another's hidden data (consecutive windows
        of one trace). warmup_calls: instances to run untimed first (default: the first
        call's inputs reversed). repeats: timed passes, each in a fresh process (default:
        the Sandbox's). adapters: for a policy file that does not define `function` but the
        public function of one of them (see adapters.py)."""
        display = os.fspath(path)
        if not os.path.isfile(display):
            return PolicyRun(Failure("load_error", f"{display}: no such policy file"))
        calls = [normalize_call(call) for call in calls]
        if not calls:
            return PolicyRun()
        warmups = [normalize_call(call) for call in warmup_calls] if warmup_calls else None
        outputs = [o if isinstance(o, OutputSpec) else OutputSpec(*o) for o in outputs]
        repeats = self.repeats if repeats is None else repeats
        if repeats < 1:
            raise ValueError(f"repeats must be at least 1, not {repeats}")
        # One block per output for all calls: a few large allocations fault in far fewer pages
        # than one fresh array per call and output.
        blocks = [np.empty((len(calls), *o.shape), o.dtype) for o in outputs]
        passes: list[PassResult] = []
        for timed_pass in range(repeats):
            order = timing.execution_order(len(calls), seed, timed_pass)
            result = self._one_pass(os.path.abspath(display), display, function, calls, outputs, order, warmups,
                                    blocks if timed_pass == 0 else None, describe_arguments(calls[0], arg_names),
                                    adapters)
            if result.failure is not None:
                return PolicyRun(result.failure)
            passes.append(result)
        return PolicyRun(None, [tuple(block[i] for block in blocks) for i in range(len(calls))],
                         [timing.call_seconds([p.times_s[i] for p in passes]) for i in range(len(calls))],
                         [[p.times_s[i] for p in passes] for i in range(len(calls))], passes[0].interface)

    def _one_pass(self, path: str, display: str, function: str, calls: list[tuple], outputs: list[OutputSpec],
                  order: list[int], warmups: list[tuple] | None, blocks: list[np.ndarray] | None,
                  arguments: list[str], adapters: Sequence[AdapterSource] = ()) -> PassResult:
        """One policy process: every call once, in `order`."""
        self.start()
        worker = self._worker()
        candidate = None
        try:
            if self.limits.memory_bytes is not None and self.limits.memory_bytes <= worker.baseline_vm_bytes:
                return PassResult([], _limit_below_baseline(self.limits, worker, self.array))
            candidate = CandidateRun(self._spawn(worker, path, outputs), self.limits, path, display, function,
                                     outputs, arguments, adapters)
            return candidate.execute(calls, order, warmups, blocks)
        finally:
            if candidate is not None:
                candidate.close()
            if not self.warm:
                worker.stop()
            elif candidate is not None and candidate.worker_compromised():
                self._state.drop_worker()

    def _spawn(self, worker: Worker, path: str, outputs: list[OutputSpec]) -> CandidateProcess:
        try:
            return CandidateProcess(worker, self._state.root, path, self.limits, outputs)
        except WorkerDied:
            if not self.warm:
                raise
            self._state.drop_worker()       # died since it was last seen: one fresh try
            return CandidateProcess(self._worker(), self._state.root, path, self.limits, outputs)

    def _worker(self) -> Worker:
        if not self.warm:
            return self._state.started(Worker(self.array, self._state.root))
        if self._state.worker is None or not self._state.worker.alive():
            self._state.drop_worker()          # a crashed worker is replaced
            self._state.worker = self._state.started(Worker(self.array, self._state.root))
        return self._state.worker


class _State:
    """What a Sandbox holds that must be released: the worker and the scratch root."""

    def __init__(self):
        self.worker: Worker | None = None
        self.root: str | None = None
        self.isolation: Isolation | None = None

    def started(self, worker: Worker) -> Worker:
        """Note what a freshly started worker found it can apply."""
        self.isolation = worker.isolation
        return worker

    def drop_worker(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None

    def release(self) -> None:
        self.drop_worker()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None


def normalize_call(call) -> tuple:
    """A call's arguments as contiguous numpy arrays and plain Python scalars."""
    def one(value):
        if isinstance(value, np.ndarray):
            return np.ascontiguousarray(value)
        if isinstance(value, np.generic):
            return value.item()
        if hasattr(value, "__array__") and not isinstance(value, (list, tuple)):
            return np.ascontiguousarray(np.asarray(value))
        return value
    return tuple(one(v) for v in call)


def describe_arguments(args: tuple, names: Sequence[str] | None = None) -> list[str]:
    """`float64[58, 256]`, `288`, ... (prefixed by `name=` when names are known)."""
    def one(value) -> str:
        if isinstance(value, np.ndarray):
            return f"{value.dtype}[{', '.join(str(n) for n in value.shape)}]"
        return repr(value) if isinstance(value, (bool, int, float, str)) else type(value).__name__
    described = [one(a) for a in args]
    if names is not None and len(names) == len(described):
        described = [f"{n}={d}" for n, d in zip(names, described)]
    return described


def _limit_below_baseline(limits: SandboxLimits, worker: Worker, array: str) -> Failure:
    return Failure("memory", f"the memory limit ({format_bytes(limits.memory_bytes)}) is below what the sandbox "
                             f"process with {array} maps before any policy runs "
                             f"({format_bytes(worker.baseline_vm_bytes)}); raise the limit by a few GiB")
