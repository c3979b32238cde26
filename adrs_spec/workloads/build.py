"""Run a spec's workload recipes: sample each case, draw its traces, cut them into instances.

A workload set is a list of groups; the instances of a group share their params (hence
their shapes) and are stacked along a leading batch axis, ready for the vmapped evaluator.
Same spec, workload and seed: same arrays, bit for bit.
"""
from __future__ import annotations

import math
import os
import zlib
from dataclasses import dataclass, field

import numpy as np

from adrs_spec.lang import ir
from adrs_spec.errors import SpecError
from adrs_spec.lang.statics import bind, eval_static, shape_of
from adrs_spec.workloads.generators import GENERATORS, GeneratorError, sample_choice, sample_range

MAX_RESAMPLES = 200
MAX_CASES = 100_000                 # cases of one workload: each is drawn by a Python loop
MAX_WORKLOAD_BYTES = 16 << 30       # the arrays of one workload set, at most (see memory_limit)


@dataclass
class Group:
    """Instances that share params: fields stacked as arrays of shape (n, *field_shape)."""

    params: dict[str, int | float | bool]
    fields: dict[str, np.ndarray]
    cases: list[int] = field(default_factory=list)        # the case each instance came from
    labels: list[str] = field(default_factory=list)       # e.g. "case 0, w = 5", for reports
    generator_args: list[dict] = field(default_factory=list)  # per case, the sampled arguments

    @property
    def size(self) -> int:
        return len(self.cases)


@dataclass
class WorkloadSet:
    name: str            # "zipf_drift", or the holdout's name
    kind: str            # "train" | "holdout"
    description: str
    groups: list[Group]

    @property
    def size(self) -> int:
        return sum(g.size for g in self.groups)


def case_rng(seed: int, name: str, case: int) -> np.random.Generator:
    """An independent stream per (seed, workload set, case), stable across runs and machines."""
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(name.encode()), case]))


class SampleError(SpecError):
    """A range or set that cannot be sampled (empty): drawing again would not help."""


def memory_limit() -> int:
    """The most bytes the arrays of one workload set may take: MAX_WORKLOAD_BYTES, or half of
    this machine's memory when that is less."""
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        physical = 2 * MAX_WORKLOAD_BYTES
    return min(MAX_WORKLOAD_BYTES, physical // 2)


def format_bytes(count: float) -> str:
    for unit, size in (("PiB", 1 << 50), ("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{int(count)} B"


def _sample(rng, value: ir.Value, env: dict, span=None):
    try:
        if isinstance(value, ir.Sampled):
            if value.choices:
                return sample_choice(rng, tuple(eval_static(c, env) for c in value.choices))
            return sample_range(rng, eval_static(value.lo, env), eval_static(value.hi, env))
    except GeneratorError as err:
        raise SampleError(str(err), value.span or span) from None
    return eval_static(value, env)


def _apply_overrides(workload: ir.Workload, overrides: tuple[ir.Assign, ...]):
    """Holdout overrides replace assignments and generator arguments of the same name."""
    by_name = {o.name: o for o in overrides}
    assigns = [by_name.get(a.name, a) for a in workload.assigns]
    assigned = {a.name for a in assigns}
    traces = []
    for t in workload.traces:
        gen = GENERATORS[t.generator]
        args = [by_name.get(a.name, a) for a in t.args]
        args += [o for o in overrides if o.name in gen.params and o.name not in {a.name for a in t.args}]
        traces.append((t, args))
    gen_names = {n for t in workload.traces for n in GENERATORS[t.generator].params}
    extra = [o for o in overrides if o.name not in assigned and o.name not in gen_names]
    return extra + assigns, traces


def _case_env(spec: ir.Spec, assigns, rng, span) -> dict:
    """Sample the case's params and locals until the params satisfy every `require`."""
    param_names = {p.name for p in spec.params}
    last_error = None
    sampled = any(isinstance(a.value, ir.Sampled) for a in assigns)
    for _ in range(MAX_RESAMPLES if sampled else 1):
        env = {p.name: p.default for p in spec.params}
        values = {}
        try:
            for a in assigns:
                # the statics as the params assigned so far make them, and the locals so far
                v = _sample(rng, a.value, {**env, **bind(spec, values, check=False)}, a.span)
                env[a.name] = v
                if a.name in param_names:
                    values[a.name] = v
            return {**env, **bind(spec, values)}
        except SampleError:
            raise
        except SpecError as err:
            last_error = err
    if not sampled:
        raise SpecError(f"the workload's params break a requirement: {last_error.message}", span)
    raise SpecError(f"no sampled params satisfy the spec's requirements after {MAX_RESAMPLES} tries: "
                    f"{last_error.message}", span)


def _dims_from_data(spec: ir.Spec, workload: ir.Workload, data: dict[str, np.ndarray]) -> list[ir.Assign]:
    """A trace given as data fixes the params and locals that name its dimensions (two traces
    must agree on a dimension they share)."""
    out = []
    sizes: dict[str, tuple[int, str]] = {}
    for t in workload.traces:
        if t.name not in data:
            continue
        arr = data[t.name]
        if arr.ndim != len(t.shape):
            raise SpecError(f"trace `{t.name}` has {len(t.shape)} dimension(s), but the data has shape "
                            f"{arr.shape}", t.span)
        for dim, size in zip(t.shape, arr.shape):
            if isinstance(dim, ir.Static):
                if dim.name in sizes and sizes[dim.name][0] != size:
                    other_size, other = sizes[dim.name]
                    raise SpecError(f"trace `{t.name}` has {size} along `{dim.name}`, but trace `{other}` has "
                                    f"{other_size}; the traces must agree", t.span)
                sizes[dim.name] = (int(size), t.name)
                out.append(ir.Assign(dim.name, ir.Const(int(size), "int", t.span), t.span))
    return out


def build(spec: ir.Spec, workload: ir.Workload, seed: int, name: str | None = None,
          overrides: tuple[ir.Assign, ...] = (), kind: str = "train", span=None,
          data: dict[str, np.ndarray] | None = None) -> WorkloadSet:
    """Realise a workload (shifted by `overrides` for a holdout) into stacked instance groups.

    `data` replaces generated traces by given arrays (a trace file): one case, and the
    params and locals naming the trace's dimensions are read off the array's shape.
    """
    name = name or workload.name
    span = span or workload.span
    data = data or {}
    overrides = tuple(overrides) + tuple(_dims_from_data(spec, workload, data))
    assigns, traces = _apply_overrides(workload, overrides)
    cases = 1 if data else case_count(spec, workload)
    groups: dict[tuple, Group] = {}
    limit, used = memory_limit(), 0
    for case in range(cases):
        rng = case_rng(seed, name, case)
        env = _case_env(spec, assigns, rng, span)
        shapes = {t.name: data[t.name].shape if t.name in data else tuple(int(eval_static(d, env)) for d in t.shape)
                  for t, _ in traces}
        case_bytes = _case_bytes(spec, workload, shapes, env)
        if used + case_bytes * (cases - case) > limit:
            raise SpecError(f"workload `{name}` would need about {format_bytes(used + case_bytes * (cases - case))} "
                            f"of memory ({cases} case(s) of about {format_bytes(case_bytes)}); the limit is "
                            f"{format_bytes(limit)}", span,
                            notes=("lower `cases`, or the sizes of the traces (`windows`, the params of their "
                                   "dimensions)",))
        used += case_bytes
        drawn, sampled = {}, {}
        for t, args in traces:
            if t.name in data:
                drawn[t.name] = np.asarray(data[t.name], dtype=np.float64)
                continue
            kwargs = {a.name: _sample(rng, a.value, env, a.span) for a in args}
            sampled[t.name] = kwargs
            shape = shapes[t.name]
            try:
                drawn[t.name] = GENERATORS[t.generator](rng, shape, **kwargs)
            except GeneratorError as err:
                raise SpecError(f"generator `{t.generator}`: {err}", t.span) from None
        instances, labels = _cut(spec, workload, drawn, env)
        key = tuple(sorted((p.name, env[p.name]) for p in spec.params))
        group = groups.setdefault(key, Group({p.name: env[p.name] for p in spec.params},
                                             {n: [] for n in instances}))
        count = len(next(iter(instances.values())))
        for n, arrays in instances.items():
            group.fields[n].extend(arrays)
        group.cases.extend([case] * count)
        group.labels.extend(f"case {case}" + (f", {label}" if label else "") for label in labels)
        group.generator_args.append(sampled)
    out = []
    for g in groups.values():
        g.fields = {n: np.stack(v) for n, v in g.fields.items()}
        out.append(g)
    return WorkloadSet(name, kind, _describe(workload, overrides), out)


def case_count(spec: ir.Spec, workload: ir.Workload) -> int:
    """The workload's `cases` at the params' defaults, checked to be 1 .. MAX_CASES."""
    count = eval_static(workload.cases, bind(spec, check=False))
    if not 1 <= count <= MAX_CASES:
        raise SpecError(f"`cases` is {count}; a workload has 1 to {MAX_CASES} cases", workload.cases.span)
    return int(count)


def _case_bytes(spec: ir.Spec, workload: ir.Workload, shapes: dict[str, tuple], env: dict) -> int:
    """About how many bytes one case takes: its traces, and its instances twice (cut, then stacked)."""
    traces = sum(math.prod(max(0, d) for d in shape) for shape in shapes.values())
    instances = 1
    if workload.cut is not None:
        var = workload.cut.var
        instances = max(0, int(eval_static(var.hi, env)) - int(eval_static(var.lo, env)))
    fields = sum(math.prod(max(0, d) for d in shape_of(f, env)) for f in spec.fields())
    return 8 * (traces + 2 * instances * fields)


def _cut(spec: ir.Spec, workload: ir.Workload, drawn: dict, env: dict):
    """The case's instances (field -> list of arrays) and a label for each."""
    fields = spec.fields()
    if workload.cut is None:
        points = [("", {f.name: drawn[f.name] for f in fields})]
    else:
        var = workload.cut.var
        lo, hi = int(eval_static(var.lo, env)), int(eval_static(var.hi, env))
        points = []
        for i in range(lo, hi):
            local = {**env, var.name: i}
            points.append((f"{var.name} = {i}", {n: drawn[r.tensor][tuple(int(eval_static(x, local)) for x in r.indices)]
                                                 for n, r in workload.cut.fields}))
    if not points:
        raise SpecError(f"workload `{workload.name}` yields no instances: the range of "
                        f"`{workload.cut.var.name}` is empty for these traces (e.g. a trace of one window "
                        f"when instances pair each window with the next)", workload.span)
    out: dict[str, list[np.ndarray]] = {f.name: [] for f in fields}
    for _, values in points:
        for f in fields:
            arr = np.asarray(values[f.name], dtype=np.float64 if f.dtype == "float" else np.int64)
            want = shape_of(f, env)
            if arr.shape != want:
                raise SpecError(f"workload `{workload.name}` gives `{f.name}` the shape {arr.shape}, but the "
                                f"instance block declares {want}", workload.span)
            _check_lower(f, arr, env, workload)
            out[f.name].append(arr)
    return out, [label for label, _ in points]


def _check_lower(f: ir.Tensor, arr: np.ndarray, env: dict, workload: ir.Workload) -> None:
    if f.lower is None:
        return
    op, bound_expr = f.lower
    bound_value = eval_static(bound_expr, env)
    ok = {">=": arr >= bound_value, ">": arr > bound_value, "<=": arr <= bound_value,
          "<": arr < bound_value, "==": arr == bound_value, "!=": arr != bound_value}.get(op)
    if ok is not None and not ok.all():
        bad = tuple(int(i) for i in np.argwhere(~ok)[0])
        raise SpecError(f"workload `{workload.name}` breaks the declared constraint `{f.name} {op} "
                        f"{bound_value}` at index {bad} (value {arr[bad]})", f.span)


def _describe(workload: ir.Workload, overrides) -> str:
    return workload.name + ("" if not overrides else " shifted: " + ", ".join(o.name for o in overrides))
