"""Spec file -> checked IR -> generated files, written atomically.

`check`, `check_source` and `compile_file` are how everything gets a spec's IR: the frontend
(adrs_spec.frontend), given what it needs to know from outside the language (the workload
generators, the adapter files).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

from adrs_spec import __version__
from adrs_spec.lang import ir
from adrs_spec.errors import CompilerBug, Source, SpecError
from adrs_spec.files import locked_folder, replace_files
from adrs_spec.frontend import ast
from adrs_spec.frontend.check import Checked, Outside
from adrs_spec.frontend.check import check as check_tree
from adrs_spec.frontend.parser import parse, read_source
from adrs_spec.sandbox.adapters import AdapterProblem, read_adapter
from adrs_spec.workloads.build import MAX_CASES
from adrs_spec.workloads.generators import GENERATORS


def _adapter_problem(path: str, as_written: str) -> str | None:
    try:
        read_adapter(path, as_written)
    except AdapterProblem as problem:
        return str(problem)
    return None


def _outside() -> Outside:
    """Read when a spec is checked: a generator registered later is known to later checks."""
    return Outside({name: tuple(gen.params) for name, gen in GENERATORS.items()}, MAX_CASES, _adapter_problem)


def check(tree: ast.SpecFile, source: Source) -> Checked:
    """A parsed spec checked into IR, with its warnings; raises SpecError located in `source`."""
    return check_tree(tree, source, _outside())


def check_source(source: Source) -> ir.Spec:
    return check(parse(source), source).spec


def compile_file(path: str) -> ir.Spec:
    """Read, parse and check a spec file into IR; raises SpecError or InputError."""
    return check_source(read_source(path))


@dataclass(frozen=True)
class CompileResult:
    spec: ir.Spec
    warnings: tuple[SpecError, ...]
    files: dict[str, str]         # file name -> content, for OUT/<spec name>/
    seconds: float                # parse + check + generate, no JAX tracing

    def summary(self) -> str:
        s = self.spec
        fields = s.fields()
        return (f"spec `{s.name}`: {len(s.params)} params, {len(fields)} instance fields, "
                f"policy `{s.policy.name}` -> {len(s.policy.outputs)} outputs, {len(s.invariants)} invariants, "
                f"{sum(not isinstance(x, ir.Step) for x in s.lets)} tensor lets, "
                f"{sum(isinstance(x, ir.Step) for x in s.lets)} step blocks, {len(s.metrics)} metrics, {len(s.workloads)} workloads, "
                f"{len(s.holdouts)} holdouts")


def display_name(path: str) -> str:
    """The name a spec is reported and recorded under: relative to here when it lies below."""
    rel = os.path.relpath(os.path.abspath(path))
    return rel if not rel.startswith("..") else os.path.basename(path)


def compile_spec(path: str) -> CompileResult:
    from adrs_spec.backends.jax.codegen import generate

    start = time.perf_counter()
    source = read_source(path)
    source = type(source)(display_name(path), source.text, path)
    checked = check(parse(source), source)
    try:
        files = generate(checked.spec, __version__)
    except SpecError as err:        # a construct the JAX backend cannot lower, located in the spec
        raise err.with_source(source) from None
    check_python(files, checked.spec.name)
    return CompileResult(checked.spec, checked.warnings, files, time.perf_counter() - start)


def check_python(files: dict[str, str], spec_name: str) -> None:
    """Every generated .py file must at least parse: a file that does not is our bug, found
    here rather than when someone imports it."""
    for name, content in files.items():
        if not name.endswith(".py"):
            continue
        try:
            compile(content, f"{spec_name}/{name}", "exec", dont_inherit=True)
        except (SyntaxError, ValueError, RecursionError, MemoryError) as err:
            raise CompilerBug(f"the generated {spec_name}/{name} does not compile ({err})") from None


def write_generated(result: CompileResult, out_dir: str) -> str:
    """Write OUT/<name>/, file by file: each to a temporary name, then moved over the old one,
    with the folder locked so that concurrent compiles take turns. Never half-written; other
    files in the folder are left alone; folders get the user's normal permissions."""
    folder = os.path.join(out_dir, result.spec.name)
    with locked_folder(folder):
        replace_files(folder, {name: content.encode("utf-8") for name, content in sorted(result.files.items())})
    return folder


def check_generated(result: CompileResult, out_dir: str) -> list[str]:
    """What differs between a fresh compile and OUT/<name>/ (empty when up to date)."""
    folder = os.path.join(out_dir, result.spec.name)
    if not os.path.isdir(folder):
        return [f"{folder}/ does not exist"]
    problems = []
    for name, content in sorted(result.files.items()):
        path = os.path.join(folder, name)
        if not os.path.exists(path):
            problems.append(f"{path} is missing")
        elif open(path, encoding="utf-8").read() != content:
            problems.append(f"{path} differs")
    extra = sorted(set(os.listdir(folder)) - set(result.files) - {"__pycache__"})
    problems += [f"{os.path.join(folder, n)} is not generated by this spec" for n in extra]
    return problems
