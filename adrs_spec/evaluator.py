"""Load a generated evaluator module and run instances through it in batches.

`load_generated` imports generated/<name>/evaluator.py; `compile_in_memory` generates the
same module from a spec without writing files; `Evaluator` stacks instances of one shape
into batches, runs the jitted guards and simulator, and returns plain Python results.
"""
from __future__ import annotations

import importlib.util
import linecache
import os
import sys
import types
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from adrs_spec import __version__
from adrs_spec.lang import ir
from adrs_spec.backends.jax import support as rt
from adrs_spec.errors import InputError
from adrs_spec.lang.statics import bind

MAX_BATCH = 256          # instances per call: bounds memory, keeps one trace per padded size


@dataclass(frozen=True)
class GuardOutcome:
    name: str
    passed: bool
    witness: tuple[int, ...] | None     # the first violating index tuple; None when passed


@dataclass(frozen=True)
class InstanceEval:
    guards: tuple[GuardOutcome, ...]
    metrics: dict[str, float]

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.guards)

    def guard(self, name: str) -> GuardOutcome:
        return next(g for g in self.guards if g.name == name)


# ---- loading ----
def load_generated(spec_name: str, folder: str = "generated") -> types.ModuleType:
    """Import <folder>/<spec_name>/evaluator.py as a module."""
    path = os.path.join(folder, spec_name, "evaluator.py")
    if not os.path.exists(path):
        raise InputError(f"{path} does not exist; run `adrs-spec compile specs/{spec_name}.adrs` first")
    module_name = f"adrs_generated_{spec_name}"
    loader_spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[module_name] = module
    loader_spec.loader.exec_module(module)
    return module


def compile_in_memory(spec: ir.Spec, compiler_version: str = __version__) -> types.ModuleType:
    """The generated module for `spec`, built and executed without touching the disk."""
    from adrs_spec.backends.jax.codegen import module_source

    source = module_source(spec, compiler_version)
    filename = f"<generated {spec.name}/evaluator.py>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)  # tracebacks show code
    module_name = f"adrs_generated_{spec.name}_in_memory"
    module = types.ModuleType(module_name)
    module.__file__ = filename
    sys.modules[module_name] = module      # dataclasses look their module up while building
    exec(compile(source, filename, "exec"), module.__dict__)
    return module


# ---- evaluating ----
class Evaluator:
    """A generated module's evaluators, one per param tuple and dtype, over lists of instances."""

    def __init__(self, spec: ir.Spec, module: types.ModuleType, dtype: str = "float32"):
        self.spec = spec
        self.module = module
        self.dtype = dtype
        self._evaluators: dict[tuple, object] = {}

    def evaluator_for(self, params: Mapping) -> object:
        """The jitted batch function for these params (built once, then cached)."""
        key = tuple(sorted(params.items()))
        if key not in self._evaluators:
            bind(self.spec, params)             # a located SpecError for bad params
            self._evaluators[key] = self.module.make_evaluator(dict(params), dtype=self.dtype)
        return self._evaluators[key]

    def evaluate_batch(self, env_params: Mapping, instances: Sequence[Mapping], outputs: Sequence[Mapping]
                       ) -> list[InstanceEval]:
        """Guards and metrics of every instance, in order."""
        if len(instances) != len(outputs):
            raise InputError(f"{len(instances)} instances but {len(outputs)} outputs")
        evaluate = self.evaluator_for(env_params)
        results: list[InstanceEval | None] = [None] * len(instances)
        for indices in _groups_by_shape(instances, outputs):
            for start in range(0, len(indices), MAX_BATCH):
                chunk = indices[start:start + MAX_BATCH]
                for i, res in zip(chunk, self._run(evaluate, [instances[i] for i in chunk],
                                                   [outputs[i] for i in chunk])):
                    results[i] = res
        return results

    def _run(self, evaluate, instances: list[Mapping], outputs: list[Mapping]) -> list[InstanceEval]:
        pad = _padding(len(instances), getattr(evaluate, "chunk", None))
        fields = self._stack(instances, self.module.FIELDS, evaluate.statics, pad, "instance")
        outs = self._stack(outputs, self.module.OUTPUTS, evaluate.statics, pad, "output")
        raw = evaluate(fields, outs)
        passed = {k: np.asarray(v) for k, v in raw["passed"].items()}
        witness = {k: np.asarray(v) for k, v in raw["witness"].items()}
        metrics = {k: np.asarray(v) for k, v in raw["metrics"].items()}
        return [self._instance(passed, witness, metrics, i) for i in range(len(instances))]

    @staticmethod
    def _stack(dicts: list[Mapping], declared: Mapping[str, tuple], statics, pad: int, what: str) -> dict:
        """One (B, ...) array per name, converted while stacking (a single pass over the data)."""
        missing = sorted(set(declared) - set(dicts[0]))
        extra = sorted(set(dicts[0]) - set(declared))
        if missing or extra:
            raise InputError(f"each {what} needs {', '.join(declared)}; "
                             f"missing: {', '.join(missing) or '-'}, unexpected: {', '.join(extra) or '-'}")
        return {name: rt.host_stack([d[name] for d in dicts] + [dicts[-1][name]] * pad, dtype, statics, name)
                for name, (dtype, _) in declared.items()}

    def _instance(self, passed, witness, metrics, i: int) -> InstanceEval:
        guards = []
        for inv in self.spec.invariants:
            ok = bool(passed[inv.name][i])
            guards.append(GuardOutcome(inv.name, ok, None if ok else tuple(int(w) for w in witness[inv.name][i])))
        return InstanceEval(tuple(guards), {m.name: float(metrics[m.name][i]) for m in self.spec.metrics})


def _groups_by_shape(instances, outputs) -> list[list[int]]:
    groups: dict[tuple, list[int]] = {}
    for i, (inst, out) in enumerate(zip(instances, outputs)):
        key = tuple((n, np.shape(x)) for d in (inst, out) for n, x in sorted(d.items()))
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def _padded(n: int) -> int:
    size = 1
    while size < n:
        size *= 2
    return size


def _padding(n: int, chunk: int | None) -> int:
    """Copies of the last instance to add: up to a power of two (few sizes, few traces), except
    for batches the evaluator splits into chunks itself (it pads only the last chunk)."""
    if chunk is not None and n >= chunk:
        return 0
    return _padded(n) - n


