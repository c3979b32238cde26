"""The records a sandboxed policy run hands back: what outputs are expected, what went wrong,
and what came out."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

OUTPUT_KINDS = ("int", "float", "bool")

# Failure kinds. `bad_output` means the policy ran but broke its contract (a verdict on the
# policy); `load_error` means the file itself is unusable; `isolation` means the sandbox could
# not apply a kernel layer it had found available (the policy did not run); the others are
# runtime failures.
FAILURE_KINDS = ("load_error", "bad_output", "crash", "timeout", "memory", "killed", "forbidden", "isolation")


@dataclass(frozen=True)
class OutputSpec:
    """One declared output of the policy: its name, element kind and shape.

    bounded: the axes declared `<= bound` (shape[axis] is the bound), where a policy may
    return any width: a narrower value is padded with `pad`, a wider one must hold only
    `pad` past the bound. bound_names: how the spec writes each of those bounds (for
    messages), in the order of `bounded`."""

    name: str
    kind: str                # "int" | "float" | "bool"
    shape: tuple[int, ...]
    bounded: tuple[int, ...] = ()
    pad: int | float | bool | None = None
    bound_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in OUTPUT_KINDS:
            raise ValueError(f"output `{self.name}`: kind must be one of {', '.join(OUTPUT_KINDS)}, not {self.kind!r}")
        object.__setattr__(self, "shape", tuple(int(n) for n in self.shape))
        object.__setattr__(self, "bounded", tuple(int(a) for a in self.bounded))
        object.__setattr__(self, "bound_names", tuple(self.bound_names) or tuple(str(self.shape[a]) for a in self.bounded))
        if self.bounded and self.pad is None:
            raise ValueError(f"output `{self.name}`: a bounded dimension needs a pad value")
        if any(not 0 <= a < len(self.shape) for a in self.bounded):
            raise ValueError(f"output `{self.name}`: bounded axes {self.bounded} outside its {len(self.shape)} dimensions")

    def message(self) -> list:
        """The spec as sent to the policy process."""
        return [self.name, self.kind, list(self.shape), list(self.bounded), self.pad, list(self.bound_names)]

    @property
    def dtype(self) -> np.dtype:
        """The numpy dtype outputs of this kind are handed back in."""
        return np.dtype({"int": np.int64, "float": np.float64, "bool": np.bool_}[self.kind])


@dataclass(frozen=True)
class Failure:
    """Why a policy run stopped: a kind from FAILURE_KINDS, a one-line message, the index of the
    call it happened on (None when not tied to a call, e.g. loading), and optional detail
    (the policy's traceback, the last lines it printed)."""

    kind: str
    message: str
    call_index: int | None = None
    detail: str | None = None


@dataclass
class PolicyRun:
    """The result of one `Sandbox.run_policy`.

    outputs[i] is the tuple of numpy arrays returned for call i, in the declared output
    order; times_s[i] is the policy's measured runtime on call i (the median over the timed
    passes, see timing.py); repeat_times_s[i] lists the time of every pass. On failure,
    outputs and times are empty (the failure's call_index says where it stopped).
    """

    failure: Failure | None = None
    outputs: list[tuple[np.ndarray, ...]] = field(default_factory=list)
    times_s: list[float] = field(default_factory=list)
    repeat_times_s: list[list[float]] = field(default_factory=list)
    interface: str | None = None      # the adapter the policy ran through; None: the spec's own function

    @property
    def ok(self) -> bool:
        return self.failure is None
