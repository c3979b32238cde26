"""What `adrs-spec check` and the fast checks of `adrs-spec compile` run and print: the Z3
checks (adrs_spec.backends.z3), refuted claims described as validate describes a witness."""
from __future__ import annotations

import json
from dataclasses import replace
from typing import Callable, Sequence

from adrs_spec.lang import ir
from adrs_spec.backends.z3 import report as text
from adrs_spec.backends.z3.checks import FAST_TIMEOUT_S, SpecReport, check_spec, defaults_refutation
from adrs_spec.backends.z3.sizes import parse_size
from adrs_spec.backends.z3.verdicts import CheckResult, Verdict
from adrs_spec.errors import InputError, SpecError

Echo = Callable[..., None]


def check_files(paths: Sequence[str], size_text: str | None, timeout_s: float, as_json: bool, echo: Echo) -> int:
    """Check every spec; print verdicts as they come (or JSON at the end). Exit code: 1 if a
    check is refuted or a spec does not compile, else 0. Bad `--size` raises InputError."""
    from adrs_spec.compile import compile_file

    size = parse_size(size_text)
    specs: list[tuple[str, ir.Spec]] = []
    entries: list[dict] = []
    failed = 0
    for path in paths:
        try:
            specs.append((path, compile_file(path)))
        except SpecError as err:       # the spec does not compile: its own error, located
            failed += 1
            refuted = defaults_refutation(path, err)
            if as_json:
                entries.append({"source": path, "ok": False, "error": err.message,
                                "checks": [] if refuted is None else text.to_json(
                                    SpecReport(path, path, {}, (), (refuted,), 0.0))["checks"]})
                continue
            if refuted is not None:
                echo(text.header(path))
                echo("\n".join(text.result_lines(path, refuted)))
            echo(err.render(), err=True)
            echo(f"FAILED: {path}: the spec does not compile", err=True)
    _check_size_keys(size, [s for _, s in specs])
    for path, spec in specs:
        own = {k: v for k, v in size.items() if any(p.name == k for p in spec.params)}
        if not as_json:
            echo(text.header(path))
        show = None if as_json else (lambda r, p=path, s=spec: echo("\n".join(text.result_lines(p, described(s, r)))))
        report = check_spec(spec, own, timeout_s, on_result=show)
        report = replace(report, results=tuple(described(spec, r) for r in report.results))
        failed += bool(report.failed)
        if as_json:
            entries.append(text.to_json(report))
        else:
            echo(text.summary(report))
    if as_json:
        echo(json.dumps({"ok": failed == 0, "specs": entries}, indent=2))
    return 1 if failed else 0


def described(spec: ir.Spec, r: CheckResult) -> CheckResult:
    """A refuted claim with the values its body reads at the failing point, as validate
    shows a guard's witness (`l = 0, e = 1: logcnt[0, 1] = 0, ...`)."""
    from adrs_spec.validate import describe_point

    if r.point is None or r.model is None or ":" in r.where:
        return r
    decl = next(c for c in spec.claims if c.name == r.subject)
    values = describe_point(spec, decl, dict(r.point), dict(r.model.tensors), r.model.params)
    return replace(r, where=": ".join(part for part in (r.where, values) if part))


def _check_size_keys(size: dict[str, int], specs: list[ir.Spec]) -> None:
    known = {p.name for s in specs for p in s.params if p.dtype == "int"}
    for key in size:
        if specs and key not in known:
            raise InputError(f"--size: `{key}` is not an int param of {', '.join(f'`{s.name}`' for s in specs)}; "
                             f"the int params are {', '.join(sorted(known)) or 'none'}")


def fast_checks(spec: ir.Spec, source: str, timeout_s: float = FAST_TIMEOUT_S) -> tuple[list[str], bool]:
    """The checks `compile` runs (requires, defaults, consistency at the tiny size): lines to
    print, and whether they prove the spec unusable (no valid output exists)."""
    report = check_spec(spec, None, timeout_s, fast=True)
    return fast_lines(report, source), _unusable(report)


def fast_lines(report: SpecReport, source: str) -> list[str]:
    size = ", ".join(f"{k} = {v}" for k, v in report.size.items())
    verdicts = ", ".join(f"{r.check} {r.verdict}" for r in report.results)
    lines = [f"  z3 at {size or 'no size'}: {verdicts} ({report.seconds:.1f} s)"]
    for r in report.results:
        if r.verdict is not Verdict.PROVED:
            lines += text.result_lines(source, r, show_model=r.verdict is Verdict.REFUTED)
    return lines


def _unusable(report: SpecReport) -> bool:
    return any(r.check == "consistency" and r.verdict is Verdict.REFUTED for r in report.results)
