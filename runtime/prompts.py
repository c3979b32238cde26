"""Prompts for an LLM, built from the spec: the problem statement once per run, then for each
child the parent's code, its metrics and evaluation feedback, and inspirations.

The problem statement is generated from the typed IR and the spec's own text (the policy
signature with shapes and dtypes at the default params, each invariant with its comment and
source, the simulator's lets, metrics, objectives and the score), so it can never drift from
what the evaluator checks. Only training results reach a prompt: holdout metrics are not
passed to this module at all (`train_view`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from adrs_spec.lang import ir
from adrs_spec.errors import Source
from adrs_spec.lang.statics import bind, shape_of
from adrs_spec.sandbox.adapters import Interface

SYSTEM_TEMPLATE = """You are an expert systems researcher and Python programmer. You improve a policy \
program for the problem below. Every output must satisfy the invariants exactly: an output that breaks \
one scores nothing. Among valid programs, a higher score wins.

{problem}
{context}
{edit_instructions}"""

USER_TEMPLATE = """# Current program
{parent_metrics}
{feedback}
```python
{parent}
```
{failures}
{inspirations}
Propose one improvement of the current program. Explain the idea in a sentence or two, then give the edit."""

MAX_INSPIRATION_CHARS = 6000       # longer inspirations are cut, to keep prompts bounded
MAX_FAILURE_DIFF_LINES = 30
RECENT_FAILURES = 2                # failed children of the island shown in its next prompts


@dataclass(frozen=True)
class Prompt:
    system: str
    user: str


def problem_statement(spec: ir.Spec, source: Source, interfaces: Sequence[Interface] = ()) -> str:
    """The problem, from the spec: what the policy receives and returns (and the public
    interfaces its adapters accept instead), what a valid output is, and how it is scored."""
    parts = [f"# Problem: {spec.title or spec.name}", _lead_comment(source), _signature(spec),
             _interfaces(spec, interfaces), _invariants(spec, source), _simulator(spec, source),
             _scoring(spec, source)]
    return "\n\n".join(p for p in parts if p)


def _lead_comment(source: Source) -> str:
    """The comment block at the top of the spec file: the author's description."""
    lines = []
    for line in source.text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            lines.append(stripped.lstrip("#").strip())
        elif stripped or lines:
            break
    return "\n".join(lines).strip()


def _signature(spec: ir.Spec) -> str:
    env = _defaults(spec)
    args = []
    for name in spec.policy.args:
        tensor = next((t for t in spec.fields("observe") if t.name == name), None)
        if tensor is not None:
            args.append(f"- `{name}`: {_type(tensor, env)}{_lower(tensor)} (observed)")
        else:
            value = env.get(name)
            args.append(f"- `{name}`: a scalar parameter" + (f" (default {value})" if value is not None else ""))
    outs = [f"- `{t.name}`: {_type(t, env)}" for t in spec.outputs()]
    hidden = [t.name for t in spec.fields("hidden")]
    lines = [f"## The policy\nA Python file defining `{spec.policy.name}({', '.join(spec.policy.args)})`, "
             f"called with positional arguments:", *args,
             "It returns a tuple, in this order:", *outs]
    if hidden:
        lines.append(f"The program is scored on data it does not see ({', '.join(f'`{h}`' for h in hidden)}); "
                     f"it decides from what it observes.")
    lines.append("Shapes are written over the spec's params; [..] gives their sizes at the defaults, but read "
                 "sizes from the inputs, never hard-code them (other shapes are tested too).")
    return "\n".join(lines)


def _interfaces(spec: ir.Spec, interfaces: Sequence[Interface]) -> str:
    """The public interfaces a program may define instead of the spec's function."""
    if not interfaces:
        return ""
    lines = ["## Or: a public interface",
             f"Instead of `{spec.policy.name}`, the program may define one of these; the evaluator then calls "
             "it through the spec's adapter, which converts the arguments and the result. Keep the interface "
             "the current program uses."]
    for i in interfaces:
        arguments = "" if i.arguments is None else ", ".join(i.arguments)
        lines.append(f"- `{i.function}({arguments})` (adapter `{i.adapter}`)"
                     + (":" if i.description else ""))
        if i.description:
            lines.append(_indent(i.description))
    return "\n".join(lines)


def _defaults(spec: ir.Spec) -> dict:
    try:
        return dict(bind(spec, check=False))
    except Exception:          # a param without a default: sizes are not shown
        return {}


def _type(tensor: ir.Tensor, env: dict) -> str:
    from adrs_spec.lang.text import spec_text

    dims = ", ".join(("<= " if axis in tensor.bounded else "") + spec_text(d) for axis, d in enumerate(tensor.shape))
    text = f"{tensor.dtype}[{dims}]"
    if env:
        try:
            text += f" [{', '.join(str(n) for n in shape_of(tensor, env))}]"
        except Exception:
            pass
    if tensor.bounded:
        text += f", any width up to the bound, padded with {tensor.pad!r}"
    return text


def _lower(tensor: ir.Tensor) -> str:
    from adrs_spec.lang.text import spec_text

    return f", every element {tensor.lower[0]} {spec_text(tensor.lower[1])}" if tensor.lower else ""


def _invariants(spec: ir.Spec, source: Source) -> str:
    if not spec.invariants:
        return ""
    lines = ["## Invariants (every output must satisfy all of them)"]
    for inv in spec.invariants:
        comment = _comment_above(source, inv.span.line)
        lines.append(f"- `{inv.name}`" + (f": {comment}" if comment else ""))
        lines.append(_indent(_declaration(source, inv.span, inv.body)))
    lines.append("Out-of-range indices read the nearest element; `a ~= b` means equal within a relative "
                 f"tolerance of {spec.tolerance:g}; ranges `a .. b` exclude b; `count`/`sum` without a range "
                 "run over the whole dimension.")
    return "\n".join(lines)


def _simulator(spec: ir.Spec, source: Source) -> str:
    if not spec.lets:
        return ""
    lines = ["## How outputs are simulated"]
    for let in spec.lets:
        body = let.body if isinstance(let, ir.TensorLet) else ir.Const(0, "int", let.span)   # a step block
        lines.append(_indent(_declaration(source, let.span, body)))
    return "\n".join(lines)


def _scoring(spec: ir.Spec, source: Source) -> str:
    lines = ["## Scoring"]
    for metric in spec.metrics:
        lines.append(_indent(_declaration(source, metric.span, metric.expr)) + f"   (averaged over instances: {metric.aggregate})")
    for objective in spec.objectives:
        lines.append(_indent(_declaration(source, objective.span, objective.expr)))
    if spec.score is not None:
        lines.append(_indent(_declaration(source, spec.score.span, spec.score, keyword="score")))
    if any(_reads_runtime(o.expr) for o in spec.objectives) or (spec.score is not None and _reads_runtime(spec.score)):
        lines.append("`runtime` is the program's median wall time per call in seconds, measured in a separate "
                     "process on inputs it has not seen before.")
    return "\n".join(lines)


def _reads_runtime(expr: ir.Expr) -> bool:
    return isinstance(expr, ir.Runtime) or any(_reads_runtime(c) for c in ir.children(expr))


def _declaration(source: Source, span, body: ir.Expr, keyword: str | None = None) -> str:
    """The source lines of a declaration, from its first line through the last line of its body,
    comments removed."""
    all_lines = source.text.splitlines()
    first, last = span.line, max(span.end_line, _last_line(body))
    if keyword is not None:            # a score's span covers only its expression
        while first > 1 and not all_lines[first - 1].lstrip().startswith(keyword):
            first -= 1
    text = [re.sub(r"\s+#.*$", "", all_lines[i - 1]).rstrip() for i in range(first, min(last, len(all_lines)) + 1)]
    return "\n".join(t for t in text if t.strip())


def _last_line(expr: ir.Expr) -> int:
    return max([getattr(expr, "span", None).end_line if getattr(expr, "span", None) else 0]
               + [_last_line(c) for c in ir.children(expr)])


def _comment_above(source: Source, line: int) -> str:
    lines = source.text.splitlines()
    found = []
    i = line - 2
    while i >= 0 and lines[i].strip().startswith("#"):
        text = lines[i].strip().lstrip("#").strip()
        if text.startswith("----"):
            break
        found.append(text)
        i -= 1
    return " ".join(reversed(found))


def _indent(text: str) -> str:
    return "\n".join("    " + line.strip() if i == 0 else "    " + line for i, line in enumerate(text.splitlines()))


# ---- per child ----
def train_view(metrics: dict) -> dict:
    """A program's metrics as a prompt may show them: the training sets only."""
    return dict(metrics.get("train", {}))


def describe_metrics(metrics: dict, fitness: float | None) -> str:
    """`score 42.1; zipf_drift: balance 0.2100, runtime 1.20 ms, score 41.3` (training only)."""
    parts = [f"fitness {fitness:.4f}" if fitness is not None else "no score (invalid or failed)"]
    for set_name, values in train_view(metrics).items():
        shown = []
        for key, value in values.items():
            if value is None:
                continue
            if key == "runtime_s":
                shown.append(f"runtime {value * 1000:.2f} ms")
            elif isinstance(value, float):
                shown.append(f"{key} {value:.4f}")
            else:
                shown.append(f"{key} {value}")
        parts.append(f"{set_name}: {', '.join(shown)}")
    return "; ".join(parts)


def describe_feedback(feedback: dict) -> str:
    """The evaluation's verdict with its evidence: failed invariants with witnesses, errors."""
    if not feedback:
        return ""
    verdict = feedback.get("verdict", "")
    lines = [f"Evaluation: {verdict}: {feedback.get('reason', '')}".rstrip(": ")]
    failure = feedback.get("failure")
    if failure:
        lines.append(f"The program failed: {failure.get('message', '')}")
        detail = (failure.get("detail") or "").strip()
        if detail:
            lines += ["    " + d for d in detail.splitlines()[-8:]]
    for violation in feedback.get("violations", [])[:8]:
        lines.append(f"- violated {violation}")
    for note in feedback.get("notes", []):
        lines.append(f"- {note}")
    return "\n".join(lines)


def describe_failures(failures: Sequence[tuple[str, str, dict]]) -> str:
    """Recent children on this island that failed: what each changed in its parent and why it
    failed, so the next answer does not repeat the mistake."""
    if not failures:
        return ""
    import difflib

    parts = ["# Recent changes that failed (do not repeat them)"]
    for parent_code, code, feedback in failures:
        diff = list(difflib.unified_diff(parent_code.splitlines(), code.splitlines(), "parent", "attempt",
                                         n=0, lineterm=""))[2:][:MAX_FAILURE_DIFF_LINES]
        parts.append("```diff\n" + "\n".join(diff) + "\n```\n" + describe_feedback(feedback))
    return "\n".join(parts) + "\n"


def build_prompt(problem: str, parent_code: str, parent_metrics: dict, parent_fitness: float | None,
                 parent_feedback: dict, inspirations: Sequence[tuple[str, dict, float | None]],
                 edit_instructions: str, context: str = "", system_template: str | None = None,
                 user_template: str | None = None, failures: Sequence[tuple[str, str, dict]] = ()) -> Prompt:
    """The prompt for one child. `inspirations`: (code, metrics, fitness) of other programs;
    `failures`: (parent code, code, feedback) of recent children on the island that failed."""
    shown = []
    for k, (code, metrics, fitness) in enumerate(inspirations, 1):
        body = code if len(code) <= MAX_INSPIRATION_CHARS else code[:MAX_INSPIRATION_CHARS] + "\n# ... (cut)"
        shown.append(f"## Inspiration {k} ({describe_metrics(metrics, fitness)})\n```python\n{body}\n```")
    system = (system_template or SYSTEM_TEMPLATE).format(
        problem=problem, context=f"\n## Notes from the user\n{context.strip()}\n" if context.strip() else "",
        edit_instructions=edit_instructions)
    user = (user_template or USER_TEMPLATE).format(
        parent=parent_code.rstrip("\n"), parent_metrics=describe_metrics(parent_metrics, parent_fitness),
        feedback=describe_feedback(parent_feedback), failures=describe_failures(failures),
        inspirations=("# Other programs for inspiration\n" + "\n\n".join(shown) + "\n") if shown else "")
    return Prompt(system, user)


def retry_message(reason: str) -> str:
    """What is sent back when a response could not be applied."""
    return (f"Your edit could not be applied: {reason}\n"
            "Answer again with an edit that applies to the current program.")
