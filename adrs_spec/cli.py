"""The `adrs-spec` command line.

Exit codes, everywhere: 0 ok, 1 the spec or the policy is invalid, 2 a usage or input error.
"""
from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import sys

import click

from adrs_spec import __version__
from adrs_spec.errors import CompilerBug, InputError, SpecError

EXIT_OK, EXIT_INVALID, EXIT_INPUT = 0, 1, 2


def _fail(message: str, code: int) -> None:
    click.echo(message, err=True)
    sys.exit(code)


def user_errors(fn):
    """Turn the user's mistakes into located messages and exit codes, never tracebacks."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SpecError as err:
            _fail(err.render(), EXIT_INVALID)
        except InputError as err:
            _fail(f"error: {err}", EXIT_INPUT)
        except CompilerBug as err:
            _fail(f"internal error in adrs-spec {__version__} (a bug, not your mistake): {err}\n"
                  "please report it with the spec that triggered it", 3)
        except OSError as err:      # a folder that cannot be written, a disk that is full, ...
            where = f"{err.filename}: " if err.filename else ""
            _fail(f"error: {where}{err.strerror or err}; check the path and its permissions", EXIT_INPUT)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except ctypes.ArgumentError as err:     # Ctrl-C while Z3 built a term comes out as this
            if "KeyboardInterrupt" not in str(err):
                raise
            _fail("interrupted", 130)

    return wrapper


@contextlib.contextmanager
def _writing(out_dir: str):
    """An output folder that cannot be written is the user's to fix: say which one."""
    try:
        yield
    except OSError as err:
        raise InputError(f"cannot write {out_dir}/ ({err.strerror or err}); choose a folder you can "
                         f"write to with --out") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="adrs-spec")
def main() -> None:
    """adrs-spec: write what a correct, good answer to a systems problem is; get the evaluator.

    A spec (.adrs) declares params, the instance a policy sees, the policy's signature,
    invariants every output must satisfy, metrics, a score, and workloads. adrs-spec
    compiles it into a vectorized JAX evaluator with guards, checks the spec with Z3,
    generates workloads and holdouts, validates hand-written policies in a sandbox, and
    evolves policies against the generated evaluator.

    \b
    Typical use:
      adrs-spec compile specs/eplb.adrs
      adrs-spec check specs/eplb.adrs
      adrs-spec workloads specs/eplb.adrs --out data/eplb
      adrs-spec validate specs/eplb.adrs specs/eplb/policies/deepseek.py --array torch
      adrs-spec evolve specs/eplb.adrs --iterations 300

    Exit codes: 0 ok, 1 the spec or policy is invalid, 2 a usage or input error.
    """


@main.command("compile")
@click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", default="generated", show_default=True, type=click.Path(file_okay=False),
              help="Folder that receives one subfolder per spec.")
@click.option("--check", "check_only", is_flag=True,
              help="Write nothing; exit 1 if the generated files are missing or differ from a fresh compile.")
@user_errors
def compile_cmd(specs: tuple[str, ...], out_dir: str, check_only: bool) -> None:
    """Check SPECS and write their evaluators to OUT/NAME/.

    Each spec is parsed and checked (names, types, shapes, index ranges, requires at the
    defaults); errors are printed as file:line:col with the source line. Z3 then runs the
    fast checks of `adrs-spec check` (requires, defaults, consistency at a tiny size): a
    spec whose invariants admit no valid output fails, the other findings are notes. Then
    the JAX backend writes OUT/NAME/evaluator.py (guards + simulator, jit + vmap) and
    OUT/NAME/manifest.json. Writing is atomic: a failed compile leaves OUT untouched.
    """
    from adrs_spec.checking import fast_checks
    from adrs_spec.compile import compile_spec, check_generated, write_generated

    stale = []
    for path in specs:
        result = compile_spec(path)
        for warning in result.warnings:
            click.echo(warning.render().replace(": error: ", ": warning: ", 1), err=True)
        z3_lines, unusable = fast_checks(result.spec, path)
        if unusable:
            _fail("\n".join([f"{path}: its invariants admit no valid output; nothing written", *z3_lines]),
                  EXIT_INVALID)
        if check_only:
            problems = check_generated(result, out_dir)
            if problems:
                stale.append(path)
                click.echo(f"STALE  {path}: " + "; ".join(problems), err=True)
            else:
                click.echo(f"OK     {path}: {out_dir}/{result.spec.name}/ is up to date")
            click.echo("\n".join(z3_lines), err=True)
            continue
        with _writing(out_dir):
            folder = write_generated(result, out_dir)
        click.echo(f"compiled {path} -> {folder}/ ({', '.join(sorted(result.files))}) "
                   f"in {result.seconds * 1000:.0f} ms")
        click.echo("  " + result.summary())
        click.echo("\n".join(z3_lines), err=True)
    if stale:
        _fail(f"{len(stale)} spec(s) have stale generated code; run `adrs-spec compile "
              f"{' '.join(stale)}`", EXIT_INVALID)


@main.command("workloads")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder to write into: one .npz per set and manifest.json, each replaced atomically; "
                   "other files there are left alone.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0),
              help="Seed of every generator; same seed, same bytes.")
@click.option("--no-auto", is_flag=True, help="Only the declared holdouts, not the automatic ones.")
@user_errors
def workloads_cmd(spec: str, out_dir: str, seed: int, no_auto: bool) -> None:
    """Generate SPEC's training set and every holdout set into OUT.

    Training sets come from the spec's `workload` declarations; holdouts from its `holdout`
    declarations plus three automatic ones: auto_shift (sampled ranges moved past training),
    auto_shapes (other param tuples that satisfy every `require`, found by Z3) and
    auto_boundary (extreme instances). Holdout data is for validation and reports only.
    """
    from adrs_spec.compile import compile_file
    from adrs_spec.frontend.check import located_in
    from adrs_spec.workloads.holdouts import holdout_sets, training_sets
    from adrs_spec.workloads.store import write_sets

    ir_spec = compile_file(spec)
    if not ir_spec.workloads:
        _fail(f"{spec}: the spec declares no `workload`; add one (see specs/eplb.adrs)", EXIT_INPUT)
    with located_in(ir_spec):
        train = training_sets(ir_spec, seed)
        holdouts, notes = holdout_sets(ir_spec, seed, train, auto=not no_auto)
    with _writing(out_dir):
        manifest = write_sets(train + holdouts, out_dir, ir_spec.name, ir_spec.source_sha256, seed)
    click.echo(f"wrote {len(manifest['sets'])} workload sets for `{ir_spec.name}` to {out_dir}/ (seed {seed})")
    for entry in manifest["sets"]:
        shapes = "; ".join(", ".join(f"{k}={v}" for k, v in g["params"].items()) for g in entry["groups"][:3])
        more = f" (+{len(entry['groups']) - 3} more shapes)" if len(entry["groups"]) > 3 else ""
        click.echo(f"  {entry['kind']:8} {entry['name']:16} {entry['instances']:5} instances  {shapes}{more}")
    for note in notes:
        click.echo(f"  note: {note}")


@main.command("validate")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.argument("policy", type=click.Path(dir_okay=False))
@click.option("--array", "array", type=click.Choice(["numpy", "torch", "jax"]), default="numpy", show_default=True,
              help="Array type the policy receives and returns (torch: the public EPLB interface).")
@click.option("--holdout", is_flag=True, help="Also run every holdout set (declared and automatic).")
@click.option("--workload", "workload_names", multiple=True,
              help="Only these training workloads (default: all the spec declares).")
@click.option("--trace", "trace_file", type=click.Path(),
              help="Use a trace file (.npz, .csv, or vLLM expert-load.json) instead of generated training data; "
                   "for a workload that draws several traces, a .npz with one array per trace (named like it; "
                   "0-d arrays set params) or a folder with one file per trace; for txn_scheduling, the ADRS "
                   "leaderboard's workload .json.")
@click.option("--window", default=100, show_default=True, type=click.IntRange(min=1),
              help="Forward passes per window in a vLLM trace.")
@click.option("--partial-window", type=click.Choice(["score", "drop"]), default="score", show_default=True,
              help="A vLLM trace's last window with fewer passes than --window: scored as a window (as the public "
                   "EPLB evaluator does) or dropped; the output says which.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Seed of the generated workloads.")
@click.option("--timeout", default=60.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Seconds one policy call may take.")
@click.option("--memory", "memory_gb", default=8.0, show_default=True,
              help="Address-space limit of the policy process (GiB); 0 for none (CUDA reserves far more "
                   "address space than it uses).")
@click.option("--float64", is_flag=True, help="Evaluate in float64 (default float32).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--require-isolation", is_flag=True,
              help="Fail (exit 2) unless every kernel isolation layer of the sandbox is available here "
                   "(Landlock, user and network namespaces, no_new_privs).")
@click.option("--optima", "optima_path", type=click.Path(dir_okay=False),
              help="Tiny instances with proven optima (from `adrs-spec optima`) to report the optimality gap on  "
                   "[default: SPEC_DIR/NAME/optima.json when it exists].")
@click.option("--no-optima", is_flag=True, help="Skip the optimality gap.")
@user_errors
def validate_cmd(spec, policy, array, holdout, workload_names, trace_file, window, partial_window, seed, timeout,
                 memory_gb, float64, as_json, require_isolation, optima_path, no_optima) -> None:
    """Run POLICY (a Python file defining the spec's policy function) against SPEC.

    The policy runs in a sandboxed process (timeout, memory limit, no API keys, empty
    working directory, no holdout data; where the kernel allows, Landlock and user and
    network namespaces: no file outside its scratch folder, no network, no signal or
    ptrace to other processes; the level is printed) on every instance; its outputs go through the
    spec's guards and simulator. Prints a verdict (VALID / INVALID / ERROR), then each
    failed invariant with the instance and the indices that witness it, then the metrics,
    the policy's median runtime and the score per workload set. Where the spec has tiny
    instances with proven optima (`adrs-spec optima`), the policy runs on them too and the
    report says how close it comes ("reaches 0.97 of the optimum on average").
    """
    from adrs_spec.validate_run import run_validation, render_report

    from adrs_spec.sandbox.limits import MIN_MEMORY_BYTES

    if 0 < memory_gb * (1 << 30) < MIN_MEMORY_BYTES:
        _fail(f"error: --memory {memory_gb:g} GiB is below the sandbox's minimum of {MIN_MEMORY_BYTES >> 20} MiB; "
              f"give at least {MIN_MEMORY_BYTES / (1 << 30):g}, or 0 for no limit", EXIT_INPUT)

    report = run_validation(spec, policy, array=array, holdout=holdout, workloads=workload_names,
                            trace_file=trace_file, window=window, partial_window=partial_window, seed=seed,
                            timeout=timeout,
                            memory_bytes=int(memory_gb * (1 << 30)) if memory_gb > 0 else None, float64=float64,
                            progress=None if as_json else lambda msg: click.echo(msg, err=True),
                            require_isolation=require_isolation, notice=lambda msg: click.echo(msg, err=True),
                            optima_path=optima_path, use_optima=not no_optima)
    if as_json:
        import json

        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        click.echo(render_report(report))
    if report.verdict != "VALID":
        sys.exit(EXIT_INPUT if report.reason.startswith("load_error") else EXIT_INVALID)


@main.command("evolve")
@click.argument("spec", required=False, type=click.Path(dir_okay=False))
@click.option("--initial", type=click.Path(dir_okay=False),
              help="The program to start from (default: SPEC's policies/round_robin.py).")
@click.option("--iterations", type=click.IntRange(min=0), help="Children to propose  [default: 300].")
@click.option("--seed", type=click.IntRange(min=0), help="Seed of the search  [default: 0].")
@click.option("--run-dir", type=click.Path(file_okay=False),
              help="Folder of the run: database, best.py, config, log  [default: runs/NAME-N].")
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="YAML settings (see evolve.example.yaml); flags override it.")
@click.option("--resume", type=click.Path(file_okay=False), metavar="RUN_DIR",
              help="Continue the run in RUN_DIR with its own settings (flags may change --iterations, "
                   "--patience, --target-score).")
@click.option("--workers", type=click.IntRange(min=0), help="Parallel evaluations; 0: one per core  [default: 0].")
@click.option("--base-url", help="An OpenAI-compatible endpoint (with --model; the key comes from $OPENAI_API_KEY).")
@click.option("--model", "models", multiple=True, help="A model of --base-url (repeat for several, equal weights).")
@click.option("--budget-usd", type=click.FloatRange(min=0), help="Stop asking the LLM once this much is spent.")
@click.option("--array", type=click.Choice(["numpy", "torch", "jax"]), help="Array type candidates receive.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), help="Seconds one policy call may take.")
@click.option("--patience", type=click.IntRange(min=0), help="Stop after this many iterations without improvement.")
@click.option("--target-score", type=float, help="Stop once the best training score reaches this.")
@click.option("--rank-runtime", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Rank by the score at this runtime instead of the measured one: an exactly reproducible "
                   "search (reported scores still use measured time).")
@click.option("--allow-invalid-initial", is_flag=True, default=None,
              help="Start even if the initial program breaks an invariant.")
@click.option("--no-holdout", is_flag=True, help="Skip the holdout and baseline evaluations of the final report.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--quiet", is_flag=True, help="No progress output (the log file still gets it).")
@user_errors
def evolve_cmd(spec, initial, iterations, seed, run_dir, config_file, resume, workers, base_url, models, budget_usd,
               array, timeout, patience, target_score, rank_runtime, allow_invalid_initial, no_holdout, as_json,
               quiet) -> None:
    """Evolve a policy for SPEC: propose children, evaluate them, keep the best.

    Children come from an OpenAI-compatible LLM when one is configured (--config, or
    --base-url with --model), else from the built-in program mutator (no API key needed).
    Each child is evaluated like `adrs-spec validate` would (sandbox, guards, simulator) on
    the training sets only; holdouts are kept for the final report. The run directory holds
    the SQLite database (every evaluated program, committed as it finishes), best.py (always
    a valid program), the resolved config and a log; `--resume RUN_DIR` continues a stopped
    or killed run, Ctrl-C finishes the evaluations in flight and stops cleanly.

    \b
    Examples:
      adrs-spec evolve specs/eplb.adrs
      adrs-spec evolve specs/eplb.adrs --initial specs/eplb/policies/round_robin.py --iterations 300 --seed 7
      adrs-spec evolve specs/eplb.adrs --config evolve.yaml
      adrs-spec evolve --resume runs/eplb-1
    """
    from adrs_spec.runtime.config import ModelSettings, load_settings
    from adrs_spec.runtime.loop import evolve
    from adrs_spec.runtime.report import render_summary

    if not spec and not resume:
        _fail("error: give a SPEC to start a run, or --resume RUN_DIR to continue one", EXIT_INPUT)
    if resume and (config_file or initial):
        _fail("error: --resume continues a run with its own settings; --config and --initial apply to new runs",
              EXIT_INPUT)
    if models and not base_url or base_url and not models:
        _fail("error: --base-url and --model go together (an endpoint and the model(s) to ask)", EXIT_INPUT)
    settings = None if resume else load_settings(config_file)
    overrides = {"seed": seed, "initial": initial, "allow_invalid_initial": allow_invalid_initial,
                 "stop__iterations": iterations, "stop__patience": patience, "stop__target_score": target_score,
                 "evaluation__workers": workers, "evaluation__array": array, "evaluation__timeout_s": timeout,
                 "llm__budget_usd": budget_usd, "search__rank_runtime_s": rank_runtime}
    if base_url:
        overrides.update(llm__base_url=base_url, llm__models=tuple(ModelSettings(name=m) for m in models))
    try:
        summary = evolve(spec, settings, run_dir, resume, overrides, quiet=quiet or as_json, holdouts=not no_holdout)
    except SpecError as err:            # for evolve the spec is an input like the others: exit 2
        _fail(err.render(), EXIT_INPUT)
    if as_json:
        import json

        click.echo(json.dumps(summary, indent=2, default=str))
    else:
        click.echo(render_summary(summary))
    if summary["stopped"].startswith("interrupted"):
        sys.exit(130)


@main.command("check")
@click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the verdicts as JSON.")
@click.option("--timeout", "timeout_s", default=10.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds per solver query; a query that runs out is UNKNOWN, never an error.")
@click.option("--size", "size", default=None, metavar="NAME=N,...",
              help="Int params to check at, e.g. experts=8,replicas=12,gpus=4 (keys a spec lacks are ignored "
                   "for it); the others are the smallest that satisfy the requires.")
@user_errors
def check_cmd(specs: tuple[str, ...], as_json: bool, timeout_s: float, size: str | None) -> None:
    """Check SPECS with Z3 at a small bounded size: a verdict per check, with its location.

    \b
    requires     the `require`s are satisfiable, and the defaults meet them
    consistency  the invariants admit a valid output (else: the conflicting ones)
    guard        each invariant rules out an output the others allow (else: which imply
                 it, a note; an error when nothing can violate it)
    bound        each `bound` holds for every allowed input and valid output (else: the
                 loophole, as tensors and metric values)
    claim        each `claim` follows from the invariants (else: a counterexample)

    Verdicts: PROVED (at the size tried), REFUTED (with a concrete model), UNKNOWN (the
    solver ran out of time), SKIPPED (a construct the encoding does not express). Exit 1 if
    any check is REFUTED, 2 for bad input, 0 otherwise.
    """
    from adrs_spec.backends.z3.solve import wait as solver_wait
    from adrs_spec.checking import check_files
    from adrs_spec.interrupt import Interrupt

    with Interrupt(safe=[solver_wait.__code__]).installed() as interrupt:
        code = check_files(specs, size, timeout_s, as_json, click.echo)
        interrupt.checkpoint()
    sys.exit(code)


@main.command("optima")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--size", "size", required=True, metavar="NAME=N,...",
              help="The tiny size, every int param the workload does not fix, e.g. for EPLB "
                   "layers=1,experts=6,replicas=8,gpus=4,nodes=2,groups=2.")
@click.option("--instances", "count", default=20, show_default=True, type=click.IntRange(min=1),
              help="How many instances to draw from the spec's first workload (evenly over its cases).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Seed of the workload.")
@click.option("--timeout", "timeout_s", default=60.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds per instance; one that runs out keeps its best output as a bound, not an optimum.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False),
              help="Where to write  [default: SPEC_DIR/NAME/optima.json, where validate looks].")
@click.option("--workers", default=0, show_default=True, type=click.IntRange(min=0),
              help="Instances searched at once, each in its own process; 0: one per core.")
@click.option("--force", is_flag=True,
              help="Replace the file at --out even if it holds the optima of another size, seed or spec.")
@user_errors
def optima_cmd(spec: str, size: str, count: int, seed: int, timeout_s: float, out_path: str | None,
               workers: int, force: bool) -> None:
    """Exact optima of tiny instances, for the optimality gap that `validate` prints.

    Draws instances of SPEC's first workload at the tiny --size and has Z3 find, for each,
    the best value of the spec's first objective that does not read runtime over every
    output the invariants allow: the best output found, then a proof that none is better
    (symmetries of the problem, proven by Z3, are broken to keep that proof small). An
    instance whose proof does not finish within --timeout is written as UNKNOWN and left
    out of the gap. Sizes that finish in seconds: EPLB with 6 experts, 8 replicas on 4 GPUs;
    placement with 8 models on 4 GPUs.

    Rerunning the same command (same size and seed) keeps the instances a stopped or shorter
    run finished and searches only the rest; a file holding another run's optima is replaced
    only with --force.
    """
    from adrs_spec import optima
    from adrs_spec.backends.z3.sizes import check_size_names, parse_size
    from adrs_spec.backends.z3.solve import wait as solver_wait
    from adrs_spec.interrupt import Interrupt
    from adrs_spec.compile import compile_file

    ir_spec = compile_file(spec)
    given = parse_size(size)
    check_size_names(ir_spec, given)
    path = out_path or optima.default_path(spec, ir_spec)
    previous = None
    if os.path.exists(path):
        try:
            previous = optima.read(path, ir_spec)
            problem = optima.conflict(previous, ir_spec, given, seed)
        except InputError as err:
            problem = f"something this command cannot reuse ({str(err).removeprefix(f'{path}: ')})"
        if problem and not force:
            raise InputError(f"{path} already holds {problem}; give --out FILE to write elsewhere, "
                             f"or --force to replace it")
        if problem:
            previous = None
        elif previous.spec_sha256 != ir_spec.source_sha256:
            click.echo(f"{path} was computed for another version of the spec: every instance is searched again")

    done: list = []
    interrupt = Interrupt(safe=[solver_wait.__code__, optima.next_finished.__code__])
    workers = workers or os.cpu_count() or 1

    def show(i: int, t, so_far, kept: bool) -> None:
        with interrupt.critical():             # what is written and what is said agree
            value = "-" if t.value is None else f"{t.value:.6g}"
            took = "kept" if kept else f"{t.seconds:6.1f} s"
            click.echo(f"  {i + 1:3d}  {t.label:<20}  {t.verdict:<8}  {value:>12}  {took:>8}")
            with _writing(os.path.dirname(path) or "."):
                optima.write(so_far, path)     # an interrupted run keeps what it found
            done[:] = [so_far]

    click.echo(f"optima of {spec} at {', '.join(f'{k}={v}' for k, v in given.items())} "
               f"(up to {timeout_s:g} s per instance, {workers} at once)")
    try:
        with interrupt.installed():
            result = optima.compute(ir_spec, given, count, seed, timeout_s, progress=show, previous=previous,
                                    workers=workers)
            interrupt.checkpoint()
    except KeyboardInterrupt:
        kept = len(done[0].instances) if done else 0
        click.echo(f"interrupted: {kept} of {count} instances written to {path}", err=True)
        # Ctrl-C can land while Z3 terms are being built; a normal exit would then let their
        # half-made objects complain at collection. The file is written (atomically) already.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    proven = len(result.proven)
    click.echo(f"{proven} of {len(result.instances)} optima proven ({result.objective}) -> {path}")


if __name__ == "__main__":  # pragma: no cover
    main()
