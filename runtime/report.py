"""What the user sees of a run: live progress while it runs, the summary when it ends.

On a terminal the progress is a `rich` live line (iteration, best score, share of valid
children, evaluations per second, tokens and cost); elsewhere (a pipe, CI, a log file)
plain lines, one per improvement and one every `PLAIN_EVERY` iterations. Everything shown
is also appended to the run's log file with a timestamp.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import TextIO

PLAIN_EVERY = 25


@dataclass(frozen=True)
class Status:
    iteration: int
    total: int
    best: float | None
    valid: int
    evaluated: int
    evals_per_s: float
    tokens: int
    cost_usd: float


class Display:
    def __init__(self, total: int, log_path: str | None, quiet: bool = False, stream: TextIO | None = None):
        self.total, self.quiet = total, quiet
        self.stream = stream or sys.stderr
        self.log_file = open(log_path, "a", encoding="utf-8") if log_path else None
        self.live = None
        self._last_plain = -1
        if not quiet and self.stream.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.live = Progress(TextColumn("evolve"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                 TextColumn("{task.fields[status]}"), console=Console(file=self.stream),
                                 transient=True)
            self.task = self.live.add_task("evolve", total=total, status="")
            self.live.start()

    def log(self, message: str, show: bool = True) -> None:
        if self.log_file:
            self.log_file.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")
            self.log_file.flush()
        if self.quiet or not show:
            return
        if self.live is not None:
            self.live.console.print(message, markup=False, highlight=False)
        else:
            print(message, file=self.stream, flush=True)

    def update(self, status: Status, improved: bool) -> None:
        line = status_line(status)
        if self.live is not None:
            self.live.update(self.task, completed=status.iteration, total=status.total, status=line)
            if improved:
                self.live.console.print(f"iteration {status.iteration}: new best {status.best:.4f}",
                                        markup=False, highlight=False)
            self.log(f"iteration {status.iteration}/{status.total}: {line}", show=False)
            return
        periodic = status.iteration // PLAIN_EVERY != self._last_plain // PLAIN_EVERY
        if improved or periodic or status.iteration == status.total:
            self._last_plain = status.iteration
            self.log(f"iteration {status.iteration}/{status.total}: {line}" + ("  (new best)" if improved else ""))
        else:
            self.log(f"iteration {status.iteration}/{status.total}: {line}", show=False)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None
        if self.log_file:
            self.log_file.close()
            self.log_file = None


def status_line(s: Status) -> str:
    best = f"{s.best:.4f}" if s.best is not None else "-"
    share = f"{100 * s.valid / s.evaluated:.0f}%" if s.evaluated else "-"
    text = f"best {best}  valid {share} of {s.evaluated}  {s.evals_per_s:.2f} eval/s"
    if s.tokens:
        text += f"  {s.tokens} tokens  ${s.cost_usd:.4f}"
    return text


# ---- the summary ----
def render_summary(summary: dict) -> str:
    """The closing report: verdict line, the program table per set, the curve, where files are."""
    lines = [summary["headline"], ""]
    metric_names = summary.get("metric_names", [])
    header = ["program", "set", "kind", "valid", *metric_names, "runtime (ms)", "score"]
    rows = [header]
    for program in summary["programs"]:
        for kind in ("train", "holdout"):
            for set_name, m in program.get(kind, {}).items():
                rows.append([program["label"], set_name, kind, f"{m.get('valid', '-')}/{m.get('instances', '-')}",
                             *(_fmt(m.get(name)) for name in metric_names),
                             f"{m['runtime_s'] * 1000:.2f}" if m.get("runtime_s") is not None else "-",
                             f"{m['score']:.2f}" if m.get("score") is not None else "-"])
        if program.get("error"):
            rows.append([program["label"], "-", "-", "-", *("-" for _ in metric_names), "-", program["error"][:60]])
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    last = None
    for r in rows:
        if last is not None and r[0] != last and r is not rows[1]:
            lines.append("")
        shown = r if r[0] != last else ["", *r[1:]]
        lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(shown, widths)).rstrip())
        last = r[0] if r is not header else None
    gaps = [(p["label"], p["optimality"]) for p in summary["programs"] if p.get("optimality")]
    if gaps:
        first = gaps[0][1]
        lines += ["", f"  optimality ({first['objective']}) on {first['instances']} tiny instances with proven optima "
                      f"({first['path']}), share of the optimum reached on average (worst):"]
        lines += [f"    {label:<28} {g['mean_ratio']:.3f} ({g['worst_ratio']:.3f})" if g["mean_ratio"] is not None
                  else f"    {label:<28} no valid output" for label, g in gaps]
    if summary.get("curve"):
        points = ", ".join(f"{n}: {v:.2f}" if v is not None else f"{n}: -" for n, v in summary["curve"])
        lines += ["", f"  best training fitness per {summary.get('curve_step', 25)} evaluations: {points}"]
    if summary.get("changes"):
        lines += ["", "  what the best program changed (inside the EVOLVE blocks):"]
        lines += ["    " + c for c in summary["changes"][:30]]
    lines += ["", "  files:"] + [f"    {k:9} {v}" for k, v in summary["files"].items()]
    return "\n".join(lines)


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)
