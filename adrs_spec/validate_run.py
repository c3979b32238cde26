"""`adrs-spec validate`: put together the spec, the workload sets, the sandbox and the
generated evaluator, and render the report."""
from __future__ import annotations

import os
from dataclasses import asdict
from typing import Callable

import numpy as np

from adrs_spec.lang import ir
from adrs_spec.errors import InputError, SpecError
from adrs_spec.files import regular_file_size
from adrs_spec.evaluator import Evaluator, compile_in_memory
from adrs_spec.compile import compile_file
from adrs_spec.frontend.check import located_in
from adrs_spec.validate import Report, evaluate_set, objective_values, verdict_of
from adrs_spec.workloads.build import WorkloadSet, build

# Failures that mean the policy file itself is unusable: a usage error (exit 2), not a verdict.
LOAD_FAILURES = ("load_error",)


def load_trace(path: str, window: int, spec: ir.Spec, workload: ir.Workload, partial: str = "score",
               notes: list[str] | None = None) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """A trace file (or folder) as the data of the workload's traces, and scalar values for
    its params, every value checked: every problem is an input error here, before any policy
    runs. What was done with a partial last window of a vLLM trace is added to `notes`.

    A workload that draws one trace takes a .json (vLLM expert-load), .npz (one array) or
    .csv file. One that draws several takes a .npz with one array per trace, named like it
    (0-d arrays named like a param or workload value set that value), or a folder with one
    file per trace (`<trace>.npz`, `<trace>.csv` or `<trace>.json`)."""
    from adrs_spec.workloads import traces
    from adrs_spec.workloads.generators import GENERATORS

    if not os.path.lexists(path):
        raise InputError(f"{path}: no such trace file")
    names = [t.name for t in workload.traces]
    if os.path.isdir(path):
        data, scalars = _trace_folder(path, names, window, partial, notes), {}
    elif len(names) > 1 or _npz_members(path, names):
        data, scalars = _trace_archive(path, spec, workload)
    else:
        data, scalars = {names[0]: _trace_file(path, window, partial, notes)}, {}
    for t in workload.traces:
        where = os.path.join(path, t.name) if os.path.isdir(path) else (path if len(names) == 1 else f"{path}: `{t.name}`")
        generator = GENERATORS.get(t.generator)
        traces.check_values(data[t.name], where, loads=generator is not None and generator.loads)
    return data, scalars


def _trace_file(path: str, window: int, partial: str, notes: list[str] | None) -> np.ndarray:
    """One trace file (.json vLLM expert-load, .npz with one array, .csv) as a float64 array."""
    from adrs_spec.workloads import traces

    def vllm() -> np.ndarray:
        array, leftover = traces.read_vllm_expert_load(path, window=window, partial=partial)
        if leftover and notes is not None:
            done = ("scored as the last window, as the public EPLB evaluator does (--partial-window drop "
                    "leaves it out)" if partial == "score" else "dropped (--partial-window score keeps it)")
            notes.append(f"{os.path.basename(path)}: the last window holds {leftover} of {window} forward "
                         f"passes: {done}")
        return array

    readers = {".json": vllm,
               ".npz": lambda: traces.load_npz(path, key=None), ".csv": lambda: traces.load_csv(path)}
    reader = next((r for suffix, r in readers.items() if path.endswith(suffix)), None)
    if reader is None:
        raise InputError(f"{path}: unknown trace format; use .json (vLLM expert-load), .npz or .csv")
    if regular_file_size(path, "a trace file (.json, .npz or .csv)") == 0:     # a FIFO would block in open()
        raise InputError(f"{path}: the file is empty; give a trace file (.json, .npz or .csv)")
    return np.asarray(reader(), dtype=np.float64)


def _npz_members(path: str, names: list[str]) -> bool:
    """Whether `path` is an .npz archive with an array named like a trace (read by name then)."""
    import zipfile

    if not path.endswith(".npz") or not os.path.isfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            return any(info.filename.removesuffix(".npy") in names for info in archive.infolist())
    except (OSError, zipfile.BadZipFile, ValueError):
        return False                     # the single-file reader says what is wrong with it


def _trace_archive(path: str, spec: ir.Spec, workload: ir.Workload) -> tuple[dict, dict]:
    """An .npz holding one array per trace, and 0-d arrays for params and workload values."""
    import zipfile

    from adrs_spec.workloads import traces

    names = [t.name for t in workload.traces]
    if path.endswith(".json"):
        return _txn_workload(path, names, workload)
    if not path.endswith(".npz"):
        raise InputError(f"{path}: workload `{workload.name}` draws {len(names)} traces ({', '.join(names)}); "
                         f"give a .npz with one array per trace, named like it, or a folder with one file per trace")
    regular_file_size(path, "a trace file (.npz)")
    try:
        with zipfile.ZipFile(path) as archive:
            members = [info.filename.removesuffix(".npy") for info in archive.infolist()]
    except (OSError, zipfile.BadZipFile, ValueError) as err:
        raise InputError(f"{path}: not a readable .npz file ({err}); save traces with numpy.savez") from None
    settable = list(dict.fromkeys([p.name for p in spec.params] + [a.name for a in workload.assigns]))
    missing = [n for n in names if n not in members]
    if missing:
        raise InputError(f"{path}: no array for trace(s) {', '.join(missing)} of workload `{workload.name}`; "
                         f"the arrays are {', '.join(members) or 'none'}")
    unknown = [m for m in members if m not in names and m not in settable]
    if unknown:
        raise InputError(f"{path}: array `{unknown[0]}` is neither a trace of workload `{workload.name}` "
                         f"({', '.join(names)}) nor one of its params or values ({', '.join(settable)})")
    data = {n: traces.load_npz(path, key=n) for n in names}
    scalars = {}
    for name in (m for m in members if m not in names):
        value = traces.load_npz(path, key=name)
        if value.shape != ():
            raise InputError(f"{path}: `{name}` is a value of the workload; store it as a single number "
                             f"(a 0-d array), not shape {value.shape}")
        if not np.isfinite(value):
            raise InputError(f"{path}: `{name}` = {float(value)!r} is not a finite number")
        scalars[name] = float(value)
    return data, scalars


def _txn_workload(path: str, names: list[str], workload: ir.Workload) -> tuple[dict, dict]:
    """A transaction workload in the ADRS leaderboard's JSON format (adrs_spec.workloads.txn_json):
    the traces key, write, offset and length, and the params txns, ops and keys they imply."""
    from adrs_spec.workloads.txn_json import load_txn_workload

    regular_file_size(path, "a transaction workload (.json)")
    fields, params = load_txn_workload(path)
    if sorted(names) != sorted(fields):
        raise InputError(f"{path}: a transaction workload (.json) gives the traces {', '.join(fields)}, but workload "
                         f"`{workload.name}` draws {', '.join(names)}; give a .npz with one array per trace instead")
    return fields, {k: float(v) for k, v in params.items()}


def _trace_folder(path: str, names: list[str], window: int, partial: str, notes: list[str] | None) -> dict:
    """A folder with one file per trace, `<trace>.npz`, `<trace>.csv` or `<trace>.json`."""
    data = {}
    for name in names:
        found = [os.path.join(path, name + suffix) for suffix in (".npz", ".csv", ".json")
                 if os.path.lexists(os.path.join(path, name + suffix))]
        if len(found) != 1:
            what = "no file" if not found else f"{len(found)} files ({', '.join(os.path.basename(f) for f in found)})"
            raise InputError(f"{path}: {what} for trace `{name}`; give exactly one of {name}.npz, {name}.csv, "
                             f"{name}.json")
        data[name] = _trace_file(found[0], window, partial, notes)
    return data


def _scalar_overrides(spec: ir.Spec, workload: ir.Workload, scalars: dict[str, float]) -> tuple:
    """Params and workload values a trace archive sets, as workload assignments."""
    from adrs_spec.errors import Span

    out = []
    for name, value in scalars.items():
        dtype = spec.param(name).dtype if name in {p.name for p in spec.params} else \
            ("int" if float(value).is_integer() else "float")
        if dtype == "int" and not float(value).is_integer():
            raise InputError(f"`{name}` = {value!r} in the trace file is not a whole number; `{name}` is an int")
        number = int(value) if dtype == "int" else float(value)
        out.append(ir.Assign(name, ir.Const(number, dtype, workload.span or Span.point(1, 1)), workload.span))
    return tuple(out)


def check_environment(limits) -> None:
    """Limits this process inherits that a policy process cannot exceed (it is forked from
    us): an address-space limit (`ulimit -v`) below --memory, or a file-size limit (`ulimit -f`)
    below what a policy may write, would make every policy fail for a reason not its own."""
    import resource

    from adrs_spec.sandbox.limits import format_bytes

    unlimited = resource.RLIM_INFINITY
    _, address_space = resource.getrlimit(resource.RLIMIT_AS)
    if limits.memory_bytes is not None and address_space != unlimited and address_space < limits.memory_bytes:
        raise InputError(f"this shell limits address space to {format_bytes(address_space)} (ulimit -v), below "
                         f"--memory {format_bytes(limits.memory_bytes)}, and a policy process cannot get more "
                         f"than its parent; give --memory {address_space / (1 << 30):.1f} or less, or raise the "
                         f"limit (ulimit -v unlimited)")
    _, file_size = resource.getrlimit(resource.RLIMIT_FSIZE)
    if file_size != unlimited and file_size < limits.file_bytes:
        raise InputError(f"this shell limits files to {format_bytes(file_size)} (ulimit -f), below the "
                         f"{format_bytes(limits.file_bytes)} a policy process may write (its printed output "
                         f"included); raise the limit (ulimit -f unlimited)")


def workload_sets(spec: ir.Spec, holdout: bool, names: tuple[str, ...], trace_file: str | None,
                  window: int, seed: int, partial: str = "score") -> tuple[list[WorkloadSet], list[str]]:
    from adrs_spec.workloads.holdouts import holdout_sets

    if not spec.workloads:
        raise InputError(f"{spec.source_name}: the spec declares no `workload` to validate on")
    known = {w.name: w for w in spec.workloads}
    for n in names:
        if n not in known:
            raise InputError(f"no workload named `{n}` in {spec.source_name}; it declares: {', '.join(known)}")
    chosen = [known[n] for n in names] or list(spec.workloads)
    trace_notes: list[str] = []
    if trace_file:
        data, scalars = load_trace(trace_file, window, spec, chosen[0], partial, trace_notes)
        try:
            train = [build(spec, chosen[0], seed, name=os.path.basename(os.path.normpath(trace_file)), data=data,
                           overrides=_scalar_overrides(spec, chosen[0], scalars))]
        except SpecError as err:        # the data does not fit the spec: the file is at fault
            raise InputError(f"{trace_file}: {err.message}") from None
    else:
        with located_in(spec):
            train = [build(spec, w, seed) for w in chosen]
    if not holdout:
        return train, trace_notes
    with located_in(spec):
        holdouts, notes = holdout_sets(spec, seed, train)
    return train + holdouts, trace_notes + notes


def check_isolation(isolation, required: bool, notice: Callable[[str], None]) -> None:
    """Print the sandbox's isolation level; a missing layer is an input error if `required`,
    else a warning (a loud one without Landlock: then the policy can touch the user's files)."""
    notice(f"isolation: {isolation.describe()}")
    if not isolation.missing:
        return
    if required:
        raise InputError(f"--require-isolation: the sandbox cannot apply every isolation layer on this machine "
                         f"(missing: {'; '.join(isolation.missing)}); fix that, or validate without the flag")
    if isolation.landlock_abi is None:
        notice("warning: no Landlock here, so the policy process can read and write every file you can "
               "(your specs, other policies, workload data); run untrusted policies in a container or VM")
    else:
        notice("warning: the sandbox's isolation is incomplete on this machine (see `missing` above)")


def run_validation(spec_path: str, policy_path: str, array: str = "numpy", holdout: bool = False,
                   workloads: tuple[str, ...] = (), trace_file: str | None = None, window: int = 100,
                   partial_window: str = "score", seed: int = 0, timeout: float = 60.0, memory_bytes: int | None = 8 << 30, float64: bool = False,
                   progress: Callable[[str], None] | None = None, require_isolation: bool = False,
                   notice: Callable[[str], None] | None = None, optima_path: str | None = None,
                   use_optima: bool = True) -> Report:
    """`notice` gets the isolation level and warnings (also with --json: they go to stderr).
    The optima of tiny instances (adrs_spec.optima) are read from `optima_path`, else from
    beside the spec when that file exists; `use_optima` False skips them."""
    from adrs_spec import optima as tiny
    from adrs_spec.sandbox import Sandbox, SandboxLimits

    say = progress or (lambda msg: None)
    spec = compile_file(spec_path)
    if not os.path.exists(policy_path):
        raise InputError(f"{policy_path}: no such policy file; give a Python file that defines "
                         f"`{spec.policy.name}({', '.join(spec.policy.args)})`")
    sets, notes = workload_sets(spec, holdout, workloads, trace_file, window, seed, partial_window)
    found = None
    if use_optima:
        path = optima_path or tiny.default_path(spec_path, spec)
        if optima_path or os.path.exists(path):
            found = path, tiny.read(path, spec)
    evaluator = Evaluator(spec, compile_in_memory(spec), "float64" if float64 else "float32")
    reports = []
    try:
        limits = SandboxLimits(timeout_s=timeout, memory_bytes=memory_bytes)
    except ValueError as err:
        raise InputError(f"sandbox limits: {err}") from None
    check_environment(limits)
    with Sandbox(array=array, limits=limits) as sandbox:
        check_isolation(sandbox.isolation, require_isolation, notice or say)
        for wset in sets:
            say(f"running {os.path.basename(policy_path)} on {wset.kind} set {wset.name} ({wset.size} instances)")
            rep = evaluate_set(spec, evaluator, sandbox, policy_path, wset)
            if rep.failure and rep.failure["kind"] in LOAD_FAILURES:
                raise InputError(rep.failure["message"])
            reports.append(rep)
            if rep.failure:
                break
        gap = None
        if found and not any(r.failure for r in reports) and found[1].proven:
            path, optima = found
            say(f"running {os.path.basename(policy_path)} on {len(optima.proven)} tiny instances with proven optima")
            values, failure = objective_values(spec, evaluator, sandbox, policy_path, tiny.as_set(optima),
                                               optima.objective_index)
            if failure:
                notes.append(f"tiny instances of {path}: the policy failed: {failure['message']}")
            else:
                gap = asdict(tiny.gap(spec, optima, path, values))
        elif found and not found[1].proven:
            notes.append(f"{found[0]}: no proven optimum to compare with")
    verdict, reason = verdict_of(reports)
    return Report(verdict, reason, spec.source_name, policy_path, reports, notes, gap)


def render_report(report: Report) -> str:
    """Verdict first, then violations (a few per invariant), then the metric table."""
    lines = [f"{report.verdict}: {report.policy} against {report.spec}: {report.reason}"]
    interface = next((s.interface for s in report.sets if s.interface), None)
    if interface is not None:
        lines.append(f"  (run through the spec's adapter `{interface}`)")
    lines += [f"  note: {note}" for note in report.notes]
    for s in report.sets:
        if s.failure:
            where = f" (instance {s.failure['instance']})" if s.failure.get("instance") else ""
            lines.append(f"  {s.name}: policy failed{where}: {s.failure['message']}")
            if s.failure.get("detail"):
                lines += ["    " + d for d in s.failure["detail"].splitlines()[-6:]]
        shown: dict[str, int] = {}
        for v in s.violations:
            lines.append("  " + v.line())
            shown[v.invariant] = shown.get(v.invariant, 0) + 1
        for name, count in s.violation_counts.items():
            if count > shown.get(name, 0):
                lines.append(f"  {name}: ... and {count - shown.get(name, 0)} more instance(s) in {s.name}")
        for b in s.bound_failures:
            lines.append(f"  bound `{b}` fails on {s.name}")
    metric_names = sorted({m for s in report.sets for m in s.metrics})
    header = ["set", "kind", "instances", "valid", *metric_names, "runtime (ms)", "score"]
    rows = [header]
    for s in report.sets:
        rows.append([s.name, s.kind, str(s.instances), str(s.valid_instances),
                     *(f"{s.metrics[m]:.4f}" if m in s.metrics else "-" for m in metric_names),
                     f"{s.runtime_s * 1000:.2f}" if s.runtime_s is not None else "-",
                     f"{s.score:.2f}" if s.score is not None else "-"])
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines.append("")
    for r in rows:
        lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    if report.optimality:
        from adrs_spec.optima import Gap

        lines += ["", "  " + Gap(**report.optimality).line()]
    return "\n".join(lines)
