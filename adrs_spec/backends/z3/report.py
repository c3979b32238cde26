"""Check results as text (a verdict line per check, models and notes under it) and as JSON."""
from __future__ import annotations

from typing import Any

import numpy as np

from adrs_spec.backends.z3.checks import SpecReport
from adrs_spec.backends.z3.models import format_tensors
from adrs_spec.backends.z3.verdicts import CheckResult, Verdict


def location(source: str, r: CheckResult) -> str:
    return f"{source}:{r.span.line}:{r.span.col}" if r.span is not None and r.span.line else source


def header(source: str) -> str:
    return f"checking {source} ..."


def result_lines(source: str, r: CheckResult, show_model: bool | None = None) -> list[str]:
    """`  VERDICT  title  file:line:col  0.12 s`, the detail, then the model and notes."""
    mark = "note" if r.severity == "info" else str(r.verdict)
    lines = [f"  {mark:<8} {r.title}  ({location(source, r)}, {r.seconds:.2f} s)", f"           {r.detail}"]
    if r.where:
        lines.append(f"           at {r.where}")
    if show_model is None:
        show_model = r.verdict is Verdict.REFUTED or r.check == "consistency"
    if r.model is not None and show_model:
        lines += format_tensors(r.model, indent="             ")
    lines += [f"           note: {n}" for n in r.notes]
    return lines


def summary(report: SpecReport) -> str:
    """`OK: file: N checks at params (int outputs in a .. b): n PROVED, ... (seconds)`."""
    counts = {v: sum(1 for r in report.results if r.verdict is v) for v in Verdict}
    parts = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    size = ", ".join(f"{k} = {v}" for k, v in report.size.items())
    at = f" at {size}" + (f" (int outputs in {report.domain[0]} .. {report.domain[-1]})" if report.domain else "")
    verdict = "FAILED" if report.failed else "OK"
    return (f"{verdict}: {report.source}: {len(report.results)} checks{at if size else ''}: {parts} "
            f"in {report.seconds:.1f} s (encoding {report.encode_seconds:.1f} s)")


def to_json(report: SpecReport) -> dict[str, Any]:
    return {"spec": report.spec, "source": report.source, "size": report.size,
            "int_domain": [report.domain[0], report.domain[-1]] if report.domain else None,
            "seconds": round(report.seconds, 3), "ok": not report.failed,
            "checks": [_result_json(report.source, r) for r in report.results]}


def _result_json(source: str, r: CheckResult) -> dict[str, Any]:
    out: dict[str, Any] = {"check": r.check, "subject": r.subject, "title": r.title, "verdict": str(r.verdict),
                           "severity": r.severity, "seconds": round(r.seconds, 3),
                           "location": location(source, r), "detail": r.detail, "notes": list(r.notes)}
    if r.where:
        out["where"] = r.where
    if r.model is not None:
        out["model"] = {"params": r.model.params,
                        "tensors": {k: _plain(v) for k, v in r.model.tensors.items()},
                        "values": {k: _plain(v) for k, v in r.model.values.items()}}
    return out


def _plain(x):
    if isinstance(x, np.ndarray):
        return [_plain(v) for v in x.tolist()] if x.ndim else _plain(x.item())
    if isinstance(x, list):
        return [_plain(v) for v in x]
    if isinstance(x, float) and (x != x or x in (float("inf"), float("-inf"))):
        return str(x)
    return x
