"""Load a policy file as a fresh module and find the policy function in it, inside the policy
process. Every way this can fail becomes a LoadError whose message names the file and line."""
from __future__ import annotations

import importlib.util
import inspect
import sys
from typing import Sequence

from adrs_spec.sandbox.adapters import AdapterError, AdapterSource, LoadedAdapter
from adrs_spec.sandbox.failures import describe_exception, policy_traceback

POLICY_MODULE = "adrs_policy"


class LoadError(Exception):
    """The policy file is unusable; `message` says where and why, `detail` may add context."""

    def __init__(self, message: str, detail: str | None = None):
        super().__init__(message)
        self.message, self.detail = message, detail


def load_policy(path: str, display: str, function: str, arguments: list[str], adapters: Sequence[AdapterSource] = ()):
    """(the function, None): the function `function` of the file at `path` (shown as `display`
    in messages), checked to accept the positional arguments described by `arguments`. When
    the file does not define it: (the public function, its adapter) for the first adapter
    whose FUNCTION it defines (see adapters.py)."""
    loaded, unusable = [], [a for a in adapters if a.problem is not None]
    for source in adapters:
        if source.problem is not None:
            continue
        try:
            loaded.append(LoadedAdapter(source))
        except AdapterError as error:
            raise LoadError(error.message, error.detail) from None
    module = _import_file(path, display)
    adapter = None
    func = getattr(module, function, None)
    if func is None:
        adapter = next((a for a in loaded if getattr(module, a.function, None) is not None), None)
        if adapter is None:
            raise LoadError(_no_function(module, display, function, loaded, unusable))
        function, func = adapter.function, getattr(module, adapter.function)
    if not callable(func):
        raise LoadError(f"`{function}` in {display} is a {type(func).__name__}, not a function")
    if adapter is None:
        _check_arity(func, function, display, arguments)
    elif isinstance(adapter.arguments, (tuple, list)):
        _check_arity(func, function, display, [str(a) for a in adapter.arguments])
    return func, adapter


def _no_function(module, display: str, function: str, adapters: list[LoadedAdapter],
                 unusable: list[AdapterSource]) -> str:
    defined = [name for name, obj in vars(module).items()
               if inspect.isfunction(obj) and obj.__module__ == POLICY_MODULE and not name.startswith("_")]
    listing = f"it defines: {', '.join(defined)}" if defined else "it defines no public functions"
    public = "".join(f" or `{a.function}` (the public interface of adapter `{a.name}`)" for a in adapters)
    missing = "".join(f"; the spec's adapter `{a.name}` cannot be used ({a.problem})" for a in unusable)
    return f"{display} defines no function `{function}`{public}; {listing}{missing}"


def _import_file(path: str, display: str):
    spec = importlib.util.spec_from_file_location(POLICY_MODULE, path)
    if spec is None or spec.loader is None:
        raise LoadError(f"{display}: not a Python file that can be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[POLICY_MODULE] = module
    try:
        spec.loader.exec_module(module)
    except FileNotFoundError as error:
        if error.filename == path:
            raise LoadError(f"{display}: no such policy file") from None
        raise LoadError(f"importing {display} failed: {describe_exception(error)}",
                        policy_traceback(error, path, display)) from None
    except SyntaxError as error:
        raise _syntax_error(error, path, display) from None
    except (MemoryError, KeyboardInterrupt):
        raise
    except BaseException as error:   # SystemExit too: the file is unusable either way
        raise LoadError(f"importing {display} failed: {describe_exception(error)}",
                        policy_traceback(error, path, display)) from None
    return module


def _syntax_error(error: SyntaxError, path: str, display: str) -> LoadError:
    where = display if error.filename == path else (error.filename or display)
    text = (error.text or "").rstrip("\n")
    detail = None
    if text:
        caret = " " * max((error.offset or 1) - 1 - (len(text) - len(text.lstrip())), 0) + "^"
        detail = f"  {text.strip()}\n  {caret}"
    return LoadError(f"{where}:{error.lineno}: syntax error: {error.msg}", detail)


def _check_arity(func, function: str, display: str, arguments: list[str]) -> None:
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return   # builtins and the like: let the call itself tell
    try:
        signature.bind(*range(len(arguments)))
    except TypeError:
        bare = signature.replace(
            parameters=[p.replace(annotation=inspect.Parameter.empty) for p in signature.parameters.values()],
            return_annotation=inspect.Signature.empty)
        code = getattr(func, "__code__", None)
        where = f"{display}:{code.co_firstlineno}" if code is not None else display
        raise LoadError(f"{where}: `{function}{bare}` cannot take the {len(arguments)} positional "
                        f"arguments the spec passes: ({', '.join(arguments)})") from None
