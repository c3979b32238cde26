"""`adrs-spec evolve`: the loop that wires the runtime's parts, and the final report.

Iterations run in rounds of `workers` children. A round's parents, inspirations and
mutations are drawn in the main thread from the database as it stood when the round began,
with a random stream per iteration (`seed/iteration`); the children are evaluated in
parallel and committed in iteration order, each as soon as those before it are. The
database therefore holds the same programs in the same order whatever the timing, so a
built-in-mutator run is exactly reproducible from its seed whenever its ranking does not
depend on measured time (a score without `runtime`, or `search.rank_runtime_s`), and a
killed run loses only the children of the round in flight.

Iteration 0 is the initial program, on every island. A child's island is its iteration's,
round-robin; every `migration_interval` iterations the islands' best programs move one
island along the ring.
"""
from __future__ import annotations

import dataclasses
import difflib
import glob
import os
import random
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import yaml

from adrs_spec.lang import ir
from adrs_spec.errors import InputError
from adrs_spec.runtime import edits, prompts, select
from adrs_spec.runtime.config import Settings, load_settings, validate_settings, worker_count
from adrs_spec.runtime.database import Database, Program
from adrs_spec.runtime.evaluate import CandidateEvaluator, Evaluation, array_of
from adrs_spec.runtime.report import Display, Status

DATABASE, BEST, CONFIG, LOG, SUMMARY, SCRATCH = "evolve.db", "best.py", "config.yaml", "evolve.log", \
    "summary.json", "scratch"
CURVE_STEP = 25


class RunStopped(InputError):
    """The run cannot go on (an LLM endpoint that refuses, a budget spent): the message says
    why; the database is consistent and the run resumable."""


@dataclass
class Child:
    """One iteration's proposal, from selection through evaluation."""

    iteration: int
    island: int
    parent: Program
    inspirations: list[Program]
    failures: list[tuple[str, str, dict]] = field(default_factory=list)   # recent failed children (island)
    code: str | None = None
    description: str = ""
    prompt: str | None = None
    response: str | None = None
    model: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    rejected: str | None = None          # why no program came out of it
    fatal: str | None = None             # why the run must stop


@dataclass
class Progress:
    best: float | None = None
    best_iteration: int = 0
    evaluated: int = 0
    valid: int = 0
    started: float = field(default_factory=time.perf_counter)
    evaluated_at_start: int = 0


def default_run_dir(spec: ir.Spec) -> str:
    """runs/<spec>-<n>, the first n not taken."""
    n = 1
    while os.path.exists(os.path.join("runs", f"{spec.name}-{n}")):
        n += 1
    return os.path.join("runs", f"{spec.name}-{n}")


def default_initial(spec_path: str, spec: ir.Spec) -> str:
    folder = os.path.join(os.path.dirname(os.path.abspath(spec_path)), spec.name, "policies")
    path = os.path.join(folder, "round_robin.py")
    if not os.path.isfile(path):
        raise InputError(f"no initial program given and {os.path.relpath(path)} does not exist; "
                         f"give one with --initial FILE (a policy defining `{spec.policy.name}`)")
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


class EvolveRun:
    """One run directory: created fresh, or resumed from its database."""

    def __init__(self, run_dir: str, settings: Settings, spec_path: str, spec: ir.Spec, resume: bool,
                 display: Display):
        self.run_dir, self.settings, self.spec_path, self.spec = run_dir, settings, spec_path, spec
        self.resume, self.display = resume, display
        self.db = Database(os.path.join(run_dir, DATABASE))
        self.db.acquire_writer()
        self.workers = worker_count(settings)
        self.interrupted = False
        self.stop_reason = ""
        self.progress = Progress()
        # Seconds per phase of the loop: the controller's own work (propose, dedupe, store,
        # migrate) against waiting for evaluations and LLM answers.
        self.phases = {"propose": 0.0, "llm": 0.0, "dedupe": 0.0, "wait": 0.0, "store": 0.0, "migrate": 0.0}
        self.llm = None
        self.mutator = None
        self.evaluator: CandidateEvaluator | None = None
        self.problem = ""

    # ---- set-up ----
    def prepare(self) -> None:
        from adrs_spec.frontend.parser import read_source
        from adrs_spec.workloads.build import build

        s = self.settings
        self.train = [build(self.spec, w, s.evaluation.workload_seed) for w in self.spec.workloads]
        self.display.log(f"spec {self.spec_path}: {sum(w.size for w in self.train)} training instances in "
                         f"{len(self.train)} set(s); {self.workers} worker(s); "
                         f"{'LLM ' + ', '.join(m.name for m in s.llm.models) if s.uses_llm else 'built-in mutator'}")
        self.evaluator = CandidateEvaluator(self.spec, s, self.train, os.path.join(self.run_dir, SCRATCH))
        isolation = self.evaluator.isolation()
        if isolation:
            self.display.log(f"isolation: {isolation}")
        if s.uses_llm:
            self.llm = _make_client(s, float(self.db.get_meta("spent_usd", 0.0)))
            self.problem = prompts.problem_statement(self.spec, read_source(self.spec_path),
                                                     _interfaces(self.spec))
        else:
            from adrs_spec.runtime.mutator import Mutator

            self.mutator = Mutator()

    def seed_initial(self, initial_path: str) -> None:
        """Evaluate the initial program and put it on every island (iteration 0)."""
        code = _read_program(initial_path)
        try:
            edits.evolve_blocks(code)
        except edits.EditError as err:
            raise InputError(f"{initial_path}: {err.reason}") from None
        result = self.evaluator.evaluate(code, "initial")
        if result.status != "valid" and not self.settings.allow_invalid_initial:
            lines = [f"{initial_path}: the initial program is {result.status.upper()}: {result.feedback['reason']}"]
            lines += [f"  {v}" for v in result.feedback["violations"][:5]]
            if result.feedback.get("failure"):
                lines.append(f"  {result.feedback['failure'].get('message', '')}")
            lines.append("  fix it, or start anyway with --allow-invalid-initial")
            raise InputError("\n".join(lines))
        origin = {"kind": "initial", "model": None, "description": os.path.basename(initial_path)}
        programs = [self._program(code, None, island, 0, 0, result, origin, "") for island in
                    range(self.settings.search.islands)]
        self.db.add_many(programs, meta={"iteration": 0, "initial_path": initial_path})
        self.display.log(f"initial program {initial_path}: {result.status}, fitness "
                         f"{_fmt(result.fitness)} ({result.seconds:.1f} s)")
        if result.status == "valid":
            self._write_best(code)

    # ---- the loop ----
    def run(self) -> None:
        s = self.settings
        total = s.stop.iterations
        iteration = self.next_iteration()
        self._restore_progress()
        previous = signal.signal(signal.SIGINT, self._on_interrupt) \
            if threading.current_thread() is threading.main_thread() else None
        try:
            with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="evaluate") as pool:
                while iteration <= total and not self.interrupted and not self.stop_reason:
                    batch = list(range(iteration, min(iteration + self.workers, total + 1)))
                    self._round(pool, batch, total)
                    start = time.perf_counter()
                    self._migrate(batch)
                    self.phases["migrate"] += time.perf_counter() - start
                    self._check_stop(batch[-1])
                    iteration = batch[-1] + 1
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
        if self.interrupted:
            self.stop_reason = f"interrupted; resume with `adrs-spec evolve --resume {self.run_dir}`"
        elif not self.stop_reason:
            self.stop_reason = "iteration limit reached"

    def next_iteration(self) -> int:
        done = [p.iteration for p in self.db.programs()] + [a.iteration for a in self.db.attempts()]
        return max(done, default=0) + 1

    def _round(self, pool: ThreadPoolExecutor, batch: list[int], total: int) -> None:
        start = time.perf_counter()
        children = [self._propose(i) for i in batch]
        self.phases["propose"] += time.perf_counter() - start
        if self.llm is not None:
            start = time.perf_counter()
            children = list(pool.map(self._ask_llm, children))
            self.phases["llm"] += time.perf_counter() - start
            fatal = next((c.fatal for c in children if c.fatal), None)
            if fatal:
                for child in children:
                    if not child.fatal and child.code is None:
                        self._reject(child)
                raise RunStopped(fatal)
        start = time.perf_counter()
        seen: set[str] = set()
        pending = {}
        for child in children:
            if child.code is not None and child.rejected is None:
                digest = edits.code_hash(child.code)
                if digest in seen or self.db.has_hash(digest):
                    child.rejected = "duplicate: the child equals a program already evaluated"
                seen.add(digest)
            if child.rejected is None and child.code is not None:
                pending[child.iteration] = pool.submit(self.evaluator.evaluate, child.code, f"it{child.iteration}")
        self.phases["dedupe"] += time.perf_counter() - start
        for child in children:                 # commit in iteration order, each as soon as it can be
            if child.iteration in pending:
                start = time.perf_counter()
                result = pending[child.iteration].result()
                self.phases["wait"] += time.perf_counter() - start
                start = time.perf_counter()
                self._store(child, result, total)
            else:
                start = time.perf_counter()
                self._reject(child)
                self._show(child.iteration, total, improved=False)
            self.phases["store"] += time.perf_counter() - start

    def _propose(self, iteration: int) -> Child:
        s = self.settings
        rng = random.Random(f"{s.seed}/{iteration}")
        island = (iteration - 1) % s.search.islands
        selection = _selection(s)
        parent = select.choose_parent(self.db, island, rng, selection)
        inspirations = select.choose_inspirations(self.db, island, parent, rng, selection)
        child = Child(iteration, island, parent, inspirations)
        if self.llm is not None:
            failed = sorted(self.db.programs(island, status="invalid") + self.db.programs(island, status="error"),
                            key=lambda p: p.id)[-prompts.RECENT_FAILURES:]
            child.failures = [(self.db.get(p.parent_id).code if p.parent_id else "", p.code, p.feedback)
                              for p in failed]
        if self.mutator is not None:
            try:
                mutation = self.mutator.mutate(parent.code, [p.code for p in inspirations], rng)
            except edits.EditError as err:      # no new program from this parent: a rejected child
                child.rejected = f"the mutator found no change: {err.reason}"
            else:
                child.code, child.description = mutation.code, mutation.description
        return child

    def _ask_llm(self, child: Child) -> Child:
        """Prompt, answer, edit; an answer that cannot be applied is sent back with the reason."""
        from adrs_spec.runtime.llm import LLMError

        s = self.settings
        prompt = prompts.build_prompt(
            self.problem, child.parent.code, child.parent.metrics, child.parent.fitness, child.parent.feedback,
            [(p.code, p.metrics, p.fitness) for p in child.inspirations], _instructions(s.prompt.mode),
            s.prompt.context, s.prompt.system_template, s.prompt.user_template, child.failures)
        child.prompt = prompt.system + "\n\n" + prompt.user
        user = prompt.user
        for attempt in range(s.llm.edit_retries + 1):
            try:
                answer = self.llm.complete(prompt.system, user)
            except LLMError as err:
                if err.fatal:
                    child.fatal = str(err)
                child.rejected = f"LLM error: {err}"
                return child
            child.model = answer.model
            child.tokens_in += answer.tokens_in
            child.tokens_out += answer.tokens_out
            child.cost_usd += answer.cost_usd
            child.response = answer.text if attempt == 0 else f"{child.response}\n\n--- retry {attempt} ---\n{answer.text}"
            try:
                child.code = edits.apply_response(child.parent.code, answer.text)
                child.description = f"{answer.model}, attempt {attempt + 1}"
                child.rejected = None
                return child
            except edits.EditError as err:
                child.rejected = f"edit not applied: {err.reason}"
                user = f"{prompt.user}\n\n# Your previous answer\n{answer.text}\n\n{prompts.retry_message(err.reason)}"
        return child

    def _store(self, child: Child, result: Evaluation, total: int) -> None:
        origin = {"kind": "llm" if self.llm is not None else "mutator", "model": child.model,
                  "description": child.description}
        program = self._program(child.code, child.parent, child.island, child.parent.generation + 1,
                                child.iteration, result, origin, child.prompt, child)
        self.db.add(program, meta={"iteration": child.iteration, "spent_usd": self._spent()})
        self.progress.evaluated += 1
        improved = False
        if result.status == "valid":
            self.progress.valid += 1
            if self.progress.best is None or result.fitness > self.progress.best:
                improved = self.progress.best is not None
                self.progress.best, self.progress.best_iteration = result.fitness, child.iteration
                self._write_best(child.code)
        self._show(child.iteration, total, improved)

    def _reject(self, child: Child) -> None:
        self.db.add_attempt(child.iteration, child.parent.id, child.island, child.rejected or "no child",
                            child.prompt, child.response, child.model, child.tokens_in, child.tokens_out,
                            child.cost_usd, meta={"iteration": child.iteration, "spent_usd": self._spent()})
        self.display.log(f"iteration {child.iteration}: rejected: {(child.rejected or '')[:200]}", show=False)

    def _program(self, code: str, parent: Program | None, island: int, generation: int, iteration: int,
                 result: Evaluation, origin: dict, prompt: str | None, child: Child | None = None) -> Program:
        cell = select.cell_of(self.db, code, result.fitness, _selection(self.settings), metrics=result.metrics)
        return Program(None, code, edits.code_hash(code), parent.id if parent else None, island, generation,
                       iteration, result.status, result.fitness, result.metrics, result.feedback, cell, origin,
                       prompt, child.response if child else None, child.tokens_in if child else 0,
                       child.tokens_out if child else 0, child.cost_usd if child else 0.0, result.seconds)

    def _migrate(self, batch: list[int]) -> None:
        interval = self.settings.search.migration_interval
        if self.settings.search.islands < 2 or interval <= 0:
            return
        for iteration in batch:
            if iteration % interval == 0:
                moved = select.migrate(self.db, iteration, random.Random(f"{self.settings.seed}/migrate/{iteration}"),
                                       _selection(self.settings))
                if moved:
                    self.display.log(f"iteration {iteration}: migrated {len(moved)} program(s) along the ring",
                                     show=False)

    def _check_stop(self, iteration: int) -> None:
        stop = self.settings.stop
        if stop.target_score is not None and self.progress.best is not None and self.progress.best >= stop.target_score:
            self.stop_reason = f"target score {stop.target_score:g} reached at iteration {self.progress.best_iteration}"
        elif stop.patience and iteration - self.progress.best_iteration >= stop.patience:
            self.stop_reason = f"no better program in {stop.patience} iterations (patience)"

    def _restore_progress(self) -> None:
        programs = [p for p in self.db.programs() if p.origin.get("kind") != "migrant"]
        valid = [p for p in programs if p.status == "valid"]
        if valid:
            best = max(valid, key=lambda p: (p.fitness, -p.id))
            self.progress.best, self.progress.best_iteration = best.fitness, best.iteration
        children = [p for p in programs if p.iteration > 0]
        self.progress.evaluated = self.progress.evaluated_at_start = len(children)
        self.progress.valid = sum(1 for p in children if p.status == "valid")

    def _show(self, iteration: int, total: int, improved: bool) -> None:
        elapsed = max(time.perf_counter() - self.progress.started, 1e-9)
        usage = self.llm.usage() if self.llm is not None else {}
        tokens = sum(u["tokens_in"] + u["tokens_out"] for u in usage.values())
        rate = (self.progress.evaluated - self.progress.evaluated_at_start) / elapsed
        self.display.update(Status(iteration, total, self.progress.best, self.progress.valid,
                                   self.progress.evaluated, rate, tokens, self._spent()), improved)

    def _spent(self) -> float:
        return float(self.llm.spent_usd) if self.llm is not None else 0.0

    def _on_interrupt(self, signum, frame) -> None:
        if self.interrupted:                  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.interrupted = True
        self.display.log("interrupted: finishing the evaluations in flight (Ctrl-C again to stop at once)")

    def _write_best(self, code: str) -> None:
        _atomic_write(os.path.join(self.run_dir, BEST), code)

    def close(self) -> None:
        if self.evaluator is not None:
            self.evaluator.close()
        self.db.close()

    # ---- the final report ----
    def finish(self, holdouts: bool = True) -> dict:
        """Re-measure the top programs, choose the best, evaluate it, the initial program and
        the shipped baselines on the holdouts, write best.py and the summary."""
        s = self.settings
        initial = self.db.first()
        unique = _unique(self.db.top(max(s.evaluation.remeasure_top, 1) * s.search.islands + 1))
        top = unique[:max(s.evaluation.remeasure_top, 1)]
        if initial.status == "valid" and initial.code_hash not in {p.code_hash for p in top}:
            top.append(initial)             # measured alike, so that "better than the initial" is fair
        best = initial
        if top and not self.interrupted:
            for program in top:
                self.display.log(f"re-measuring program {program.id} (iteration {program.iteration})")
                remeasured = self.evaluator.remeasure(program.code, s.evaluation.remeasure_runs)
                self.db.update_metrics(program.id, {"remeasured": remeasured})
            top = [self.db.get(p.id) for p in top]
            best = max(top, key=lambda p: (_remeasured_rank(p, s), -p.id))
        elif top:
            best = top[0]
        if best.status == "valid":
            self._write_best(best.code)
        holdout_results: dict[int, dict] = {}
        if holdouts and not self.interrupted:
            holdout_results = self._holdouts([initial, best] + [p for p in top if p.id != best.id][
                :max(s.evaluation.holdout_top - 1, 0)])
        baselines = self._baselines(holdouts and not self.interrupted and s.evaluation.baselines)
        if holdouts and not self.interrupted:
            self._optimality([initial, best], baselines)
        return self._summary(initial, best, holdout_results, baselines)

    def _optimality(self, programs: list[Program], baselines: list[dict]) -> None:
        """The gap to the proven optima of tiny instances stored beside the spec (adrs-spec
        optima), for the initial and best programs and the baselines, when the spec has them."""
        from adrs_spec import optima as tiny

        path = tiny.default_path(self.spec_path, self.spec)
        if not os.path.exists(path):
            return
        try:
            stored = tiny.read(path, self.spec)
        except InputError as err:
            self.display.log(f"note: optimality gap skipped: {err}", show=False)
            return
        if not stored.proven:
            return
        for program in _unique(programs):
            if program.status == "valid" and "optimality" not in program.metrics:
                self.display.log(f"optimality: program {program.id} on {len(stored.proven)} tiny instances")
                self.db.update_metrics(program.id, {"optimality": self.evaluator.optimality(program.code, stored, path)})
        for baseline in baselines:
            code = _read_program(baseline["path"])
            array = array_of(baseline["path"], self.settings.evaluation.array)
            baseline["optimality"] = self.evaluator.optimality(code, stored, path, array)

    def _holdouts(self, programs: list[Program]) -> dict[int, dict]:
        from adrs_spec.workloads.holdouts import holdout_sets

        sets, notes = holdout_sets(self.spec, self.settings.evaluation.workload_seed, self.train)
        for note in notes:
            self.display.log(f"note: {note}", show=False)
        out = {}
        for program in _unique(programs):
            if program.status != "valid":
                continue
            self.display.log(f"holdouts: program {program.id} on {len(sets)} set(s)")
            out[program.id] = self.evaluator.on_sets(program.code, sets)
            self.db.update_metrics(program.id, {"holdout": out[program.id]})
        return out

    def _baselines(self, enabled: bool) -> list[dict]:
        """The spec's shipped policies on the training and holdout sets (cached in the database
        by file content, so a resumed run does not evaluate them again)."""
        if not enabled:
            return []
        from adrs_spec.workloads.holdouts import holdout_sets

        folder = os.path.join(os.path.dirname(os.path.abspath(self.spec_path)), self.spec.name, "policies")
        cached = self.db.get_meta("baselines", {}) or {}
        out = []
        sets = None
        for path in sorted(glob.glob(os.path.join(folder, "*.py"))):
            code = _read_program(path)
            key = edits.code_hash(code) if _parses(code) else code
            if key not in cached:
                if sets is None:
                    sets = self.train + holdout_sets(self.spec, self.settings.evaluation.workload_seed, self.train)[0]
                array = array_of(path, self.settings.evaluation.array)
                self.display.log(f"baseline {os.path.basename(path)} ({array}) on {len(sets)} set(s)")
                results = self.evaluator.on_sets(code, sets, array)
                cached[key] = {"train": {k: v for k, v in results.items() if k in {w.name for w in self.train}},
                               "holdout": {k: v for k, v in results.items() if k not in {w.name for w in self.train}}}
                self.db.set_meta("baselines", cached)
            out.append({"label": f"baseline {os.path.basename(path)}", "path": os.path.relpath(path), **cached[key]})
        return out

    def _summary(self, initial: Program, best: Program, holdouts: dict[int, dict], baselines: list[dict]) -> dict:
        totals = self.db.totals()
        children = [p for p in self.db.programs() if p.iteration > 0 and p.origin.get("kind") != "migrant"]

        def entry(label: str, program: Program) -> dict:
            train = program.metrics.get("remeasured") or program.metrics.get("train", {})
            program = self.db.get(program.id)
            return {"label": label, "id": program.id, "iteration": program.iteration, "status": program.status,
                    "fitness": program.fitness, "train": train, "holdout": holdouts.get(program.id, {}),
                    "optimality": program.metrics.get("optimality")}

        rows = [entry("initial", initial)]
        if best.id != initial.id:
            rows.append(entry("best", best))
        rows += baselines
        iterations_done = self.next_iteration() - 1
        best_score = _score_of(rows[-1 - len(baselines)])
        improved = best.code_hash != initial.code_hash and (
            initial.status != "valid" or _remeasured_rank(best, self.settings) > _remeasured_rank(initial, self.settings))
        headline = (f"{'IMPROVED' if improved else 'NO IMPROVEMENT'}"
                    f": {self.spec.name}, {iterations_done} iterations, {len(children)} evaluated, "
                    f"{sum(1 for p in children if p.status == 'valid')} valid; best training score "
                    f"{_fmt(best_score)} (initial {_fmt(_score_of(rows[0]))}); {self.stop_reason}")
        summary = {
            "headline": headline, "spec": self.spec_path, "run_dir": self.run_dir, "seed": self.settings.seed,
            "iterations": iterations_done, "evaluated": len(children),
            "valid": sum(1 for p in children if p.status == "valid"), "rejected": totals["attempts"],
            "stopped": self.stop_reason, "metric_names": [m.name for m in self.spec.metrics],
            "programs": rows, "curve": _curve(initial, children), "curve_step": CURVE_STEP,
            "changes": _changes(initial.code, best.code),
            "llm": {"usage": self.llm.usage() if self.llm is not None else {},
                    "tokens_in": totals["tokens_in"], "tokens_out": totals["tokens_out"],
                    "cost_usd": totals["cost_usd"]},
            "files": {"best": os.path.join(self.run_dir, BEST), "database": os.path.join(self.run_dir, DATABASE),
                      "config": os.path.join(self.run_dir, CONFIG), "log": os.path.join(self.run_dir, LOG),
                      "summary": os.path.join(self.run_dir, SUMMARY)},
        }
        import json

        _atomic_write(os.path.join(self.run_dir, SUMMARY), json.dumps(summary, indent=2, default=str))
        return summary


# ---- helpers ----
def _selection(settings: Settings):
    s = settings.search
    return select.SelectionSettings(
        islands=s.islands, top_in_prompt=s.top_in_prompt, random_in_prompt=s.random_in_prompt,
        exploit_ratio=s.exploit_ratio, explore_ratio=s.explore_ratio, migration_interval=s.migration_interval,
        migration_count=s.migration_count, feature_bins=s.feature_bins, features=tuple(s.features))


def _instructions(mode: str) -> str:
    try:
        return edits.edit_instructions(mode)
    except TypeError:
        return edits.edit_instructions()


def _interfaces(spec) -> list:
    """The public interfaces of the spec's adapters (a missing adapter is left out: validate
    reports it when a program uses it)."""
    from adrs_spec.sandbox.adapters import interface
    from adrs_spec.validate import adapter_sources

    return [interface(a.name, a.source) for a in adapter_sources(spec) if a.problem is None]


def _make_client(settings: Settings, spent: float):
    from adrs_spec.runtime import llm

    s = settings.llm
    models = tuple(llm.ModelSpec(m.name, m.weight, m.input_usd_per_mtok, m.output_usd_per_mtok) for m in s.models)
    client_settings = llm.LLMSettings(base_url=s.base_url, models=models, api_key_env=s.api_key_env,
                                      timeout_s=s.timeout_s, max_retries=s.max_retries, backoff_s=s.backoff_s,
                                      temperature=s.temperature, max_tokens=s.max_tokens)
    try:
        return llm.LLMClient(client_settings, random.Random(f"{settings.seed}/llm"), budget_usd=s.budget_usd,
                             spent_usd=spent)
    except llm.LLMError as err:
        raise RunStopped(str(err)) from None


def _remeasured_rank(program: Program, settings: Settings) -> float:
    """The score a best is chosen on: the re-measured training score (the search's fitness when
    the ranking ignores measured time)."""
    if settings.search.rank_runtime_s is not None:
        return program.fitness
    scores = [m.get("score") for m in program.metrics.get("remeasured", {}).values()]
    if scores and None not in scores:
        return sum(scores) / len(scores)
    return program.fitness


def _unique(programs: list[Program]) -> list[Program]:
    seen, out = set(), []
    for p in programs:
        if p is not None and p.code_hash not in seen:
            seen.add(p.code_hash)
            out.append(p)
    return out


def _score_of(row: dict) -> float | None:
    scores = [m.get("score") for m in row.get("train", {}).values()]
    return sum(scores) / len(scores) if scores and None not in scores else None


def _curve(initial: Program, children: list[Program]) -> list[tuple[int, float | None]]:
    """Best training fitness (the initial program's included) after every CURVE_STEP
    evaluations of children, and at the end."""
    best, out = initial.fitness, [(0, initial.fitness)]
    ordered = sorted(children, key=lambda p: p.iteration)
    for n, program in enumerate(ordered, 1):
        if program.status == "valid" and (best is None or program.fitness > best):
            best = program.fitness
        if n % CURVE_STEP == 0 or n == len(ordered):
            out.append((n, best))
    return out


def _changes(before: str, after: str) -> list[str]:
    return [line.rstrip("\n") for line in difflib.unified_diff(before.splitlines(), after.splitlines(),
                                                               "initial", "best", n=0, lineterm="")][2:]


def _read_program(path: str) -> str:
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such program file")
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a UTF-8 text file; give a Python policy file") from None


def _parses(code: str) -> bool:
    try:
        compile(code, "<program>", "exec")
        return True
    except SyntaxError:
        return False


def _atomic_write(path: str, text: str) -> None:
    tmp = f"{path}.tmp-{os.getpid()}-{threading.get_ident()}"
    with open(tmp, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(tmp, path)


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.4f}"


# ---- entry point ----
def evolve(spec_path: str | None, settings: Settings | None, run_dir: str | None, resume: str | None,
           overrides: dict, quiet: bool = False, holdouts: bool = True) -> dict:
    """Start or resume a run; returns the summary (see EvolveRun._summary)."""
    from adrs_spec.compile import compile_file
    from adrs_spec.runtime.config import with_overrides

    if resume:
        run_dir = resume
        if not os.path.isfile(os.path.join(run_dir, DATABASE)):
            raise InputError(f"{run_dir}: no run to resume here (no {DATABASE}); start one with "
                             f"`adrs-spec evolve SPEC --run-dir {run_dir}`")
        stored = load_settings(os.path.join(run_dir, CONFIG))
        settings = with_overrides(stored, **{k: v for k, v in overrides.items() if k.startswith("stop__")})
        recorded = _recorded_spec(run_dir)
        if spec_path and os.path.abspath(spec_path) != recorded:
            raise InputError(f"{run_dir} is a run of {os.path.relpath(recorded)}, not {spec_path}; resume it "
                             f"without a spec, or start a new run with another --run-dir")
        spec_path = os.path.relpath(recorded)
    spec = compile_file(spec_path)
    if not resume:
        settings = with_overrides(settings or load_settings(), **overrides)
        validate_settings(settings)
        run_dir = run_dir or default_run_dir(spec)
        if os.path.exists(os.path.join(run_dir, DATABASE)):
            raise InputError(f"{run_dir} already holds a run; continue it with `adrs-spec evolve --resume {run_dir}` "
                             f"or choose another --run-dir")
        initial = settings.initial or default_initial(spec_path, spec)
        settings = dataclasses.replace(settings, initial=initial)
        os.makedirs(run_dir, exist_ok=True)
    display = Display(settings.stop.iterations, os.path.join(run_dir, LOG), quiet=quiet)
    run = EvolveRun(run_dir, settings, spec_path, spec, bool(resume), display)
    try:
        if resume:
            if run.db.get_meta("spec_sha256") != spec.source_sha256:
                raise InputError(f"{spec_path} changed since {run_dir} started (its evaluator would differ); "
                                 f"start a new run, or restore the spec")
            display.log(f"resuming {run_dir} at iteration {run.next_iteration()}")
        else:
            _atomic_write(os.path.join(run_dir, CONFIG), yaml.safe_dump(settings.to_dict(), sort_keys=False))
            run.db.set_meta_many({"spec_path": os.path.abspath(spec_path), "spec_sha256": spec.source_sha256,
                                  "spec_name": spec.name, "seed": settings.seed})
        run.prepare()
        if run.db.first() is None:
            run.seed_initial(settings.initial)
        run.run()
        summary = run.finish(holdouts=holdouts)
    finally:
        run.close()
        display.close()
    return summary


def _recorded_spec(run_dir: str) -> str:
    db = Database(os.path.join(run_dir, DATABASE))
    try:
        path = db.get_meta("spec_path")
    finally:
        db.close()
    if not path:
        raise InputError(f"{run_dir}: the run records no spec; start a new run")
    return path
