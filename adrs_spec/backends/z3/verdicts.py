"""Verdicts: how every solver query ends, and the result of one check of a spec."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field

from adrs_spec.errors import Span


class Verdict(enum.Enum):
    PROVED = "PROVED"          # holds at the size tried
    REFUTED = "REFUTED"        # fails, with a concrete model
    UNKNOWN = "UNKNOWN"        # the solver gave up (timeout) at the size tried
    SKIPPED = "SKIPPED"        # a construct the encoding does not express

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Model:
    """A concrete instance and output from the solver: params, then tensors by name."""

    params: dict[str, int]
    tensors: dict[str, object]            # name -> numpy array (fields, then outputs)
    values: dict[str, float] = field(default_factory=dict)   # metrics and the like at the model


@dataclass(frozen=True)
class CheckResult:
    """One check: what it proves (`title`), about what (`subject`), and how it ended.

    `severity` is "error" for a REFUTED verdict that makes `adrs-spec check` fail, "info"
    for a finding that is shown but is not a defect (a redundant second guard)."""

    check: str                  # requires, defaults, consistency, guard, bound, claim
    subject: str
    title: str
    verdict: Verdict
    seconds: float
    span: Span | None
    detail: str
    model: Model | None = None
    notes: tuple[str, ...] = ()
    severity: str = "error"
    where: str = ""             # the point of a refuted claim, e.g. "l = 0, e = 1"
    point: dict[str, int] | None = None
