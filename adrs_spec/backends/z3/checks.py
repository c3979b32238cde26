"""The spec checks: each a solver query with a timeout, each ending in a verdict.

- requires: the `require`s are satisfiable (an example tuple), and the defaults meet them;
- consistency: the invariants together admit a valid output (a witness), else the
  conflicting invariants (a minimal unsat core);
- guard, per invariant: it rules out an output the other invariants allow; if not, the
  invariants that imply it are named (a note: a deliberate second guard), and it is an
  error when nothing of the declared types can violate it (vacuous);
- bound, per `bound`: it holds for every allowed input and every output that passes the
  invariants; a refutation is a loophole, shown as the input, output and metric values;
- claim, per `claim`: the invariants imply it; a refutation is a counterexample.
All run at one bounded size (adrs_spec.backends.z3.sizes); PROVED means "at that size".
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Callable, Mapping

import z3

from adrs_spec.lang import ir
from adrs_spec.backends.z3 import sizes
from adrs_spec.backends.z3.encode import Condition, Encoding, Skipped
from adrs_spec.backends.z3.models import extract, first_failure, number
from adrs_spec.backends.z3.shapes import ParamEncoding
from adrs_spec.backends.z3.solve import Outcome, solve
from adrs_spec.backends.z3.verdicts import CheckResult, Model, Verdict
from adrs_spec.errors import SpecError
from adrs_spec.lang.statics import bind

DEFAULT_TIMEOUT_S = 10.0
FAST_TIMEOUT_S = 2.0
READABLE = 10                  # counterexamples are first sought with inputs in -10 .. 10, integers
READABLE_TIMEOUT_S = 2.0
Report = Callable[[CheckResult], None]


@dataclass(frozen=True)
class SpecReport:
    spec: str
    source: str
    size: dict[str, int]
    domain: tuple[int, ...]
    results: tuple[CheckResult, ...]
    seconds: float
    encode_seconds: float = 0.0

    @property
    def failed(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.results if r.verdict is Verdict.REFUTED and r.severity == "error")


def check_spec(spec: ir.Spec, size: Mapping[str, int] | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
               fast: bool = False, on_result: Report | None = None) -> SpecReport:
    """Every check of `spec` (with `fast`, only requires, defaults and consistency)."""
    start = time.perf_counter()
    results: list[CheckResult] = []

    def add(r: CheckResult) -> None:
        results.append(r)
        if on_result is not None:
            on_result(r)

    chosen = sizes.choose(spec, size, timeout_s)
    add(requires_check(spec, timeout_s, chosen.params if chosen.status == "found" else None))
    add(defaults_check(spec))
    if chosen.status != "found":
        verdict = Verdict.UNKNOWN if chosen.status == "unknown" else Verdict.SKIPPED
        add(CheckResult("size", spec.name, "a size to check at", verdict, 0.0, None, chosen.reason))
        return SpecReport(spec.name, spec.source_name, {}, (), tuple(results), time.perf_counter() - start)
    env = bind(spec, chosen.params)
    domain = sizes.output_domain(spec, env)
    t0 = time.perf_counter()
    session = Session(spec, chosen.params, env, domain, timeout_s)
    encode_s = time.perf_counter() - t0
    for r in session.skipped:
        add(r)
    add(session.consistency())
    if not fast:
        for c in session.invariants:
            add(session.guard(c))
        for b in spec.bounds:
            add(session.bound(b))
        for claim in spec.claims:
            add(session.claim(claim))
    return SpecReport(spec.name, spec.source_name, dict(chosen.params), domain, tuple(results),
                      time.perf_counter() - start, encode_s)


# ---- requires and defaults ----
def requires_check(spec: ir.Spec, timeout_s: float, example: Mapping[str, int] | None = None) -> CheckResult:
    """Satisfiable (shown by `example`, a tuple known to meet them, when given), or the
    requires that conflict."""
    span = spec.requires[0][0].span if spec.requires else None
    title = "the requirements are satisfiable"
    if example:
        bind(spec, example)                 # a tuple from the size search meets every require
        return CheckResult("requires", "require", title, Verdict.PROVED, 0.0, span,
                           "satisfiable, e.g. " + _params_text(example))
    start = time.perf_counter()
    try:
        enc = ParamEncoding(spec)
    except Skipped as err:
        return CheckResult("requires", "require", title, Verdict.SKIPPED, 0.0, err.span, f"{err.what}")
    solver = z3.Solver()
    solver.add(*enc.ranges)
    trackers = {}
    for k, (cond, text, cspan) in enumerate(enc.requires):
        t = z3.Bool(f"require {k}")
        trackers[t.get_id()] = (text, cspan)
        solver.add(z3.Implies(t, cond))
    assumptions = [z3.Bool(f"require {k}") for k in range(len(enc.requires))]
    out = solve(solver, assumptions, timeout_s)
    seconds = time.perf_counter() - start
    if out.status == "sat":
        example = enc.model_tuple(out.model)
        return CheckResult("requires", "require", title, Verdict.PROVED, seconds, span,
                           "satisfiable, e.g. " + _params_text(example))
    if out.status == "unsat":
        in_core = {t.get_id() for t in out.core}
        core = [entry for key, entry in trackers.items() if key in in_core]        # spec order
        first = core[0][1] if core else span
        return CheckResult("requires", "require", title, Verdict.REFUTED, seconds, first,
                           "no param tuple in the declared ranges meets these together",
                           notes=tuple(f"`{text}` (line {s.line})" for text, s in core))
    return CheckResult("requires", "require", title, Verdict.UNKNOWN, seconds, span,
                       f"no answer within {timeout_s:g} s ({out.reason})")


def defaults_check(spec: ir.Spec) -> CheckResult:
    title = "the defaults meet the requirements"
    span = spec.requires[0][0].span if spec.requires else None
    missing = [p.name for p in spec.params if p.default is None]
    if missing:
        return CheckResult("defaults", "defaults", title, Verdict.SKIPPED, 0.0, span,
                           f"no default for {', '.join(missing)}")
    try:
        bind(spec)
    except SpecError as err:
        return CheckResult("defaults", "defaults", title, Verdict.REFUTED, 0.0, err.span, err.message)
    return CheckResult("defaults", "defaults", title, Verdict.PROVED, 0.0, span,
                       "they do: " + _params_text({p.name: p.default for p in spec.params}))


def defaults_refutation(spec_path: str, err: SpecError) -> CheckResult | None:
    """The front end rejects a spec whose defaults break a requirement; `check` reports that
    as this check's refutation rather than as a plain error."""
    if not err.message.startswith("the defaults break this requirement"):
        return None
    return CheckResult("defaults", "defaults", "the defaults meet the requirements", Verdict.REFUTED, 0.0,
                       err.span, err.message)


def _params_text(params: Mapping[str, object]) -> str:
    return ", ".join(f"{k} = {v}" for k, v in params.items())


# ---- the encoded checks ----
class Session:
    """One encoding and one incremental solver: invariants behind tracker literals, so that
    each check assumes the ones it needs and unsat cores name invariants."""

    def __init__(self, spec: ir.Spec, params: Mapping[str, int], env, domain, timeout_s: float):
        self.spec = spec
        self.params = dict(params)
        self.timeout_s = timeout_s
        self.enc = Encoding(spec, env, domain)
        self.solver = z3.Solver()
        self.solver.add(*self.enc.constraints)
        self.invariants: list[Condition] = []
        self.skipped: list[CheckResult] = []
        self.decls = {inv.name: inv for inv in (*spec.invariants, *spec.claims)}
        self.trackers: dict[str, z3.BoolRef] = {}
        for inv in spec.invariants:
            try:
                c = self.enc.condition(inv)
            except Skipped as err:
                self.skipped.append(CheckResult("guard", inv.name, f"`{inv.name}` rules out outputs",
                                                Verdict.SKIPPED, 0.0, err.span or inv.span, err.what))
                continue
            self.invariants.append(c)
            self.trackers[c.name] = z3.Bool(f"invariant {c.name}")
            self.solver.add(z3.Implies(self.trackers[c.name], c.formula))
        self.consistent: bool | None = None

    @property
    def size_text(self) -> str:
        return _params_text(self.params)

    def _solve(self, assumptions, timeout_s: float | None = None) -> Outcome:
        return solve(self.solver, assumptions, self.timeout_s if timeout_s is None else timeout_s)

    def _negation(self, key: str, formula) -> z3.BoolRef:
        u = z3.Bool(f"violated {key}")
        self.solver.add(z3.Implies(u, z3.Not(formula) if not isinstance(formula, bool) else z3.BoolVal(not formula)))
        return u

    def _model(self, model: z3.ModelRef) -> Model:
        return extract(self.enc, model, self.params)

    def _readable(self, assumptions: list, model: z3.ModelRef, low: int = -READABLE) -> z3.ModelRef:
        """A model of the same query whose float inputs are integers in low .. 10, when one
        exists within a short timeout (a model is read by people); else `model`."""
        floats = [v.z3vars[0] for v in self.enc.variables if v.dtype == "float"
                  and self.spec.tensor(v.tensor).kind in ("observe", "hidden")]
        if not floats:
            return model
        self.solver.push()
        try:
            self.solver.add(*(z3.And(z3.IsInt(x), x >= low, x <= READABLE) for x in floats))
            out = self._solve(assumptions, min(READABLE_TIMEOUT_S, self.timeout_s / 4))
        finally:
            self.solver.pop()
        return out.model if out.status == "sat" else model

    def _minimal(self, names: list[str], extra: tuple = ()) -> list[str]:
        """A smaller core: drop each invariant whose absence keeps the query unsat."""
        kept = list(names)
        for name in list(kept):
            rest = [n for n in kept if n != name]
            out = self._solve([self.trackers[n] for n in rest] + list(extra), self.timeout_s / 4)
            if out.status == "unsat":
                kept = rest
        return kept

    def _core_names(self, out: Outcome) -> list[str]:
        """The invariants of an unsat core, in spec order."""
        ids = {t.get_id() for t in out.core}
        return [name for name, t in self.trackers.items() if t.get_id() in ids]

    def _where(self, name: str) -> str:
        return f"`{name}` (line {self.decls[name].span.line})"

    # ---- consistency ----
    def consistency(self) -> CheckResult:
        title = "the invariants admit a valid output"
        first = self.spec.invariants[0].span if self.spec.invariants else None
        start = time.perf_counter()
        out = self._solve(list(self.trackers.values()))
        seconds = time.perf_counter() - start
        skipped = tuple(f"without `{r.subject}` (skipped)" for r in self.skipped)
        if out.status == "sat":
            self.consistent = True
            witness = self._readable(list(self.trackers.values()), out.model, low=1)
            return CheckResult("consistency", "invariants", title, Verdict.PROVED, time.perf_counter() - start,
                               first, f"a valid output exists at {self.size_text}", self._model(witness), skipped)
        if out.status == "unsat":
            self.consistent = False
            core = self._minimal(self._core_names(out))
            span = self.decls[core[0]].span if core else first
            names = ", ".join(f"`{n}`" for n in core)
            return CheckResult("consistency", "invariants", title, Verdict.REFUTED, time.perf_counter() - start,
                               span, f"no output satisfies {names} together at {self.size_text}",
                               notes=tuple(f"conflicting: {self._where(n)}" for n in core) + skipped)
        return CheckResult("consistency", "invariants", title, Verdict.UNKNOWN, seconds, first,
                           f"no answer within {self.timeout_s:g} s at {self.size_text} ({out.reason})",
                           notes=skipped)

    # ---- guards ----
    def guard(self, c: Condition) -> CheckResult:
        inv = self.decls[c.name]
        title = f"`{c.name}` rules out outputs"
        start = time.perf_counter()
        u = self._negation(c.name, c.formula)
        if self.consistent is False:        # conflicting invariants imply anything: only vacuity is told
            alone = self._solve([u])
            verdict = {"sat": Verdict.PROVED, "unsat": Verdict.REFUTED}.get(alone.status, Verdict.UNKNOWN)
            detail = {"sat": "it is not vacuous (redundancy is not checked: the invariants conflict)",
                      "unsat": "vacuous: no output of the declared types and bounds violates it"}
            return CheckResult("guard", c.name, title, verdict, time.perf_counter() - start, inv.span,
                               detail.get(alone.status, f"no answer within {self.timeout_s:g} s ({alone.reason})"))
        others = [n for n in self.trackers if n != c.name]
        out = self._solve([self.trackers[n] for n in others] + [u])
        if out.status == "sat":
            return CheckResult("guard", c.name, title, Verdict.PROVED, time.perf_counter() - start, inv.span,
                               "it rules out an output the other invariants allow", self._model(out.model))
        if out.status == "unknown":
            return CheckResult("guard", c.name, title, Verdict.UNKNOWN, time.perf_counter() - start, inv.span,
                               f"no answer within {self.timeout_s:g} s at {self.size_text} ({out.reason})")
        alone = self._solve([u])
        if alone.status == "unsat":
            return CheckResult("guard", c.name, title, Verdict.REFUTED, time.perf_counter() - start, inv.span,
                               "vacuous: no output of the declared types and bounds violates it",
                               notes=("it checks nothing; fix its condition or remove it",))
        implied_by = self._minimal(self._core_names(out), (u,))
        names = ", ".join(f"`{n}`" for n in implied_by) or "the others"
        verb = "implies" if len(implied_by) == 1 else "imply"
        return CheckResult("guard", c.name, title, Verdict.PROVED, time.perf_counter() - start, inv.span,
                           f"it is not vacuous, but {names} {verb} it at {self.size_text}",
                           self._model(alone.model) if alone.status == "sat" else None,
                           notes=("a second guard; keep it if that is deliberate",), severity="info")

    # ---- bounds and claims ----
    def bound(self, b: ir.Bound) -> CheckResult:
        title = f"bound `{b.text}` holds for every valid output"
        try:
            formula = self.enc.bound(b)
        except Skipped as err:
            return CheckResult("bound", b.text, title, Verdict.SKIPPED, 0.0, err.span or b.span, err.what)
        metrics = sorted({m for m in _metric_names(b.expr)})
        return self._implied("bound", b.text, title, b.span, formula, metrics, None)

    def claim(self, claim: ir.Claim) -> CheckResult:
        title = f"claim `{claim.name}` follows from the invariants"
        try:
            c = self.enc.condition(claim)
        except Skipped as err:
            return CheckResult("claim", claim.name, title, Verdict.SKIPPED, 0.0, err.span or claim.span, err.what)
        return self._implied("claim", claim.name, title, claim.span, c.formula, [], c)

    def _implied(self, check: str, subject: str, title: str, span, formula, metrics: list[str],
                 cond: Condition | None) -> CheckResult:
        if self.consistent is False:
            return CheckResult(check, subject, title, Verdict.SKIPPED, 0.0, span,
                               "the invariants admit no valid output at this size (see the consistency check)")
        start = time.perf_counter()
        u = self._negation(f"{check} {subject}", formula)
        out = self._solve(list(self.trackers.values()) + [u])
        seconds = time.perf_counter() - start
        if out.status == "unsat":
            return CheckResult(check, subject, title, Verdict.PROVED, seconds, span, f"it holds at {self.size_text}")
        if out.status == "unknown":
            return CheckResult(check, subject, title, Verdict.UNKNOWN, seconds, span,
                               f"no answer within {self.timeout_s:g} s at {self.size_text} ({out.reason})")
        found = self._readable(list(self.trackers.values()) + [u], out.model)
        model = replace(self._model(found), values={m: number(found, self.enc.metric(m)) for m in metrics})
        point = first_failure(found, cond) if cond is not None else None
        where = ", ".join(f"{k} = {v}" for k, v in (point or {}).items())
        if self.skipped:
            return CheckResult(check, subject, title, Verdict.UNKNOWN, seconds, span,
                               "a counterexample exists, but a skipped invariant might rule it out",
                               model, tuple(f"skipped: `{r.subject}`" for r in self.skipped), where=where,
                               point=point)
        what = "a loophole: an allowed input and a valid output break it" if check == "bound" else \
            "a counterexample: a valid output breaks it"
        return CheckResult(check, subject, title, Verdict.REFUTED, seconds, span, what, model, where=where,
                           point=point)


def _metric_names(e: ir.Expr) -> set[str]:
    if isinstance(e, ir.MetricRef):
        return {e.name}
    out: set[str] = set()
    for c in ir.children(e):
        out |= _metric_names(c)
    return out
