"""`Sandbox.run_policy`: run one candidate policy file on a list of calls in its own process,
and turn everything that can go wrong into a Failure record."""
from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from typing import Sequence

import numpy as np

from adrs_spec.sandbox.candidate import CandidateProcess
from adrs_spec.sandbox.convert import ARRAY_LIBRARIES
from adrs_spec.sandbox.limits import SandboxLimits, format_bytes
from adrs_spec.sandbox.records import Failure, OutputSpec, PolicyRun
from adrs_spec.sandbox.schedule import CandidateRun
from adrs_spec.sandbox.worker import Worker, WorkerDied


class Sandbox:
    """Runs untrusted policy files in separate processes (see the package docstring).

    array:   the array type the policy receives ("numpy", "torch", "jax").
    limits:  timeout per call, memory, file size (SandboxLimits).
    warm:    True: one worker process imports the array library once and forks a policy
             process per candidate; False: a fresh interpreter per candidate (slower; for
             comparison, or if forking misbehaves with some library).
    repeats: timed executions per call (the call's time is their median).
    Use as a context manager, or call close(). Not thread-safe: one Sandbox per thread.
    """

    def __init__(self, array: str = "numpy", limits: SandboxLimits | None = None, warm: bool = True,
                 repeats: int = 3):
        if array not in ARRAY_LIBRARIES:
            raise ValueError(f"array must be one of {', '.join(ARRAY_LIBRARIES)}, not {array!r}")
        if repeats < 1:
            raise ValueError(f"repeats must be at least 1, not {repeats}")
        self.array, self.limits, self.warm, self.repeats = array, limits or SandboxLimits(), warm, repeats
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
            self._state.worker = Worker(self.array, self._state.root)

    def close(self) -> None:
        self._close()

    @property
    def worker_pid(self) -> int | None:
        """The pid of the warm worker process, if one is running."""
        worker = self._state.worker
        return worker.pid if worker is not None and worker.alive() else None

    @property
    def scratch_dir(self) -> str | None:
        """The temporary directory that holds the candidates' scratch directories."""
        return self._state.root

    def run_policy(self, path: str, function: str, calls: Sequence[tuple], outputs: Sequence[OutputSpec],
                   repeats: int | None = None, arg_names: Sequence[str] | None = None) -> PolicyRun:
        """Run `function` of the policy file at `path` on every call (positional arguments:
        numpy arrays and Python scalars) and check its returns against `outputs`."""
        display = os.fspath(path)
        if not os.path.isfile(display):
            return PolicyRun(Failure("load_error", f"{display}: no such policy file"))
        calls = [normalize_call(call) for call in calls]
        if not calls:
            return PolicyRun()
        outputs = [o if isinstance(o, OutputSpec) else OutputSpec(*o) for o in outputs]
        repeats = self.repeats if repeats is None else repeats
        if repeats < 1:
            raise ValueError(f"repeats must be at least 1, not {repeats}")
        self.start()
        worker = self._worker()
        candidate = None
        try:
            if self.limits.memory_bytes is not None and self.limits.memory_bytes <= worker.baseline_vm_bytes:
                return PolicyRun(_limit_below_baseline(self.limits, worker, self.array))
            candidate = CandidateRun(self._spawn(worker, outputs), self.limits, os.path.abspath(display), display,
                                     function, outputs, repeats, describe_arguments(calls[0], arg_names))
            return candidate.execute(calls)
        finally:
            if candidate is not None:
                candidate.close()
            if not self.warm:
                worker.stop()
            elif candidate is not None and candidate.worker_compromised():
                self._state.drop_worker()

    def _spawn(self, worker: Worker, outputs: list[OutputSpec]) -> CandidateProcess:
        try:
            return CandidateProcess(worker, self._state.root, self.limits, outputs)
        except WorkerDied:
            if not self.warm:
                raise
            self._state.drop_worker()       # died since it was last seen: one fresh try
            return CandidateProcess(self._worker(), self._state.root, self.limits, outputs)

    def _worker(self) -> Worker:
        if not self.warm:
            return Worker(self.array, self._state.root)
        if self._state.worker is None or not self._state.worker.alive():
            self._state.drop_worker()          # a crashed worker is replaced
            self._state.worker = Worker(self.array, self._state.root)
        return self._state.worker


class _State:
    """What a Sandbox holds that must be released: the worker and the scratch root."""

    def __init__(self):
        self.worker: Worker | None = None
        self.root: str | None = None

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
