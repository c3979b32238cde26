"""Adapters: policies written to a public interface, run against a spec unchanged.

A spec declares `adapter "placement/prism.py"` (a path relative to the spec's folder; the
adapter is named by its file, `prism`). The file defines:

    FUNCTION = "compute_model_placement"      # the public function a policy file defines
    ARGUMENTS = ("gpu_num", "models")          # optional: what it takes, for the arity check

    def inputs(size, req_rate, slo, gpus):     # the spec policy's arguments, by name
        return args, state                     # FUNCTION(*args), or FUNCTION(**args) for a dict;
                                               # state goes to outputs

    def outputs(result, state):                # what FUNCTION returned
        return gpu_of                          # the spec's outputs: a tuple in declared order,
                                               # a dict by name, or the single output

A policy file that defines the spec's own function is called directly; otherwise the first
adapter whose FUNCTION it defines is used. Everything runs inside the policy process, under
the same isolation and limits: the adapter's source travels with the load request (the
process reads no file for it). `inputs` gets numpy arrays and Python scalars and is not
timed; the public function and `outputs` are (as converting a native policy's return value
is). An exception from `outputs` rejects the policy's result (a bad output, with the
adapter's message: raise ValueError("model_3 is placed twice")); one from `inputs` or while
loading the adapter is the adapter's error, reported as the policy's failure with that message.
"""
from __future__ import annotations

import ast
import linecache
import os
import sys
import types
from dataclasses import dataclass

from adrs_spec.sandbox.failures import describe_exception, policy_traceback

MAX_ADAPTER_BYTES = 1 << 20


class AdapterProblem(Exception):
    """An adapter file that cannot be used; the message says why."""


@dataclass(frozen=True)
class AdapterSource:
    """What the policy process needs to load an adapter: its name, file name (for tracebacks),
    source text, and the names of the spec policy's arguments (in call order)."""

    name: str
    filename: str
    source: str
    argument_names: tuple[str, ...]
    problem: str | None = None     # why the adapter cannot be used (its file is missing): no source

    def message(self) -> list:
        return [self.name, self.filename, self.source, list(self.argument_names), self.problem]


def read_adapter(path: str, display: str | None = None) -> str:
    """The source of the adapter file at `path` (named `display` in messages), checked without
    running it: a readable Python file that parses and defines FUNCTION (a string), `inputs`
    and `outputs`."""
    shown = display or path
    if not os.path.isfile(path):
        raise AdapterProblem(f"no such file {shown}" if not os.path.exists(path) else f"{shown} is not a file")
    if os.path.getsize(path) > MAX_ADAPTER_BYTES:
        raise AdapterProblem(f"{shown} is larger than {MAX_ADAPTER_BYTES >> 20} MiB")
    try:
        with open(path, encoding="utf-8") as f:
            source = f.read()
    except (OSError, UnicodeDecodeError) as error:
        raise AdapterProblem(f"{shown} cannot be read ({describe_exception(error)})") from None
    try:
        tree = ast.parse(source, path)
    except SyntaxError as error:
        raise AdapterProblem(f"{shown}:{error.lineno}: syntax error: {error.msg}") from None
    defined = _definitions(tree)
    function = defined.get("FUNCTION")
    if not (isinstance(function, ast.Constant) and isinstance(function.value, str) and function.value.isidentifier()):
        raise AdapterProblem(f"{shown} must set FUNCTION to the public function's name "
                             f"(`FUNCTION = \"compute_model_placement\"`)")
    for needed in ("inputs", "outputs"):
        if not isinstance(defined.get(needed), ast.FunctionDef):
            raise AdapterProblem(f"{shown} defines no function `{needed}`")
    return source


def _definitions(tree: ast.Module) -> dict[str, ast.AST]:
    """The module's top-level names: a function's node, or the value assigned to a name."""
    defined: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            defined[node.name] = node
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    defined[target.id] = node.value
    return defined


@dataclass(frozen=True)
class Interface:
    """The public interface an adapter offers, as a prompt describes it: the function a policy
    file may define instead of the spec's, its arguments when the adapter names them, and the
    adapter's docstring (what the arguments hold and what to return)."""

    adapter: str
    function: str
    arguments: tuple[str, ...] | None
    description: str


def interface(name: str, source: str) -> Interface:
    """The interface of the adapter `name` whose (already checked, see read_adapter) source is
    `source`, read without running it."""
    tree = ast.parse(source)
    values = _definitions(tree)
    try:
        arguments = ast.literal_eval(values["ARGUMENTS"]) if "ARGUMENTS" in values else None
    except (ValueError, TypeError, SyntaxError, RecursionError):     # not a literal: not shown
        arguments = None
    if not (isinstance(arguments, (tuple, list)) and all(isinstance(a, str) for a in arguments)):
        arguments = None
    return Interface(name, ast.literal_eval(values["FUNCTION"]), None if arguments is None else tuple(arguments),
                     (ast.get_docstring(tree) or "").strip())


class AdapterError(Exception):
    """The adapter itself failed (loading, or building a call): message and detail say how."""

    def __init__(self, message: str, detail: str | None = None):
        super().__init__(message)
        self.message, self.detail = message, detail


class AdapterRejected(Exception):
    """The adapter's `outputs` refused what the public function returned (a bad output)."""


class LoadedAdapter:
    """An adapter executed in the policy process: its FUNCTION, `inputs` and `outputs`."""

    def __init__(self, spec: AdapterSource):
        self.name, self.filename, self.argument_names = spec.name, spec.filename, list(spec.argument_names)
        module = types.ModuleType(f"adrs_adapter_{spec.name}")
        module.__file__ = spec.filename
        # tracebacks show the adapter's lines without reading its file (the sandbox may not let it)
        linecache.cache[spec.filename] = (len(spec.source), None, spec.source.splitlines(True), spec.filename)
        sys.modules[module.__name__] = module        # dataclasses look their module up while building
        try:
            exec(compile(spec.source, spec.filename, "exec"), module.__dict__)
        except (MemoryError, KeyboardInterrupt):
            raise
        except BaseException as error:
            raise AdapterError(f"the adapter `{self.name}` failed to load: {describe_exception(error)}",
                               policy_traceback(error, spec.filename, spec.filename)) from None
        self.function = module.__dict__.get("FUNCTION")
        self.arguments = module.__dict__.get("ARGUMENTS")
        self._inputs, self._outputs = module.__dict__.get("inputs"), module.__dict__.get("outputs")
        if not isinstance(self.function, str) or not callable(self._inputs) or not callable(self._outputs):
            raise AdapterError(f"the adapter `{self.name}` does not define FUNCTION, inputs and outputs")

    def call_arguments(self, args: list) -> tuple[tuple, dict, object]:
        """(the public function's positional and keyword arguments, the state for `outputs`)
        for one call."""
        try:
            call_args, state = self._inputs(**dict(zip(self.argument_names, args)))
            if isinstance(call_args, dict):
                return (), dict(call_args), state
            return tuple(call_args), {}, state
        except (MemoryError, KeyboardInterrupt):
            raise
        except BaseException as error:
            raise AdapterError(f"the adapter `{self.name}` could not build the call to `{self.function}`: "
                               f"{describe_exception(error)}",
                               policy_traceback(error, self.filename, self.filename)) from None

    def spec_outputs(self, result, state):
        """The spec's outputs from what the public function returned; AdapterRejected if the
        adapter cannot read it."""
        try:
            return self._outputs(result, state)
        except (MemoryError, KeyboardInterrupt):
            raise
        except Exception as error:
            text = str(error) if isinstance(error, ValueError) and str(error) else describe_exception(error)
            raise AdapterRejected(f"the `{self.function}` result does not fit the spec (adapter `{self.name}`): "
                                  f"{text}") from None
