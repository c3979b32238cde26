"""The generated JAX guards and the Z3 encoding agree, invariant by invariant.

Two independent lowerings of the same IR: the JAX code generator and the Z3 encoder. At the
checks' tiny size, both judge the same instances and outputs: random ones, near-valid ones
(a valid output with one entry changed) and every model the checks produced. Any
disagreement is a compiler bug in one of them.

Inputs are rounded to float32 first, so that both sides see the same numbers (the guards
compute in float32, the encoding in exact reals). A disagreement is excused only where that
rounding could decide it: where the encoding itself changes its verdict when the tolerance
moves by 0.1% either way; such points must stay rare.
"""
import os
from fractions import Fraction

import numpy as np
import pytest
import z3

from adrs_spec.backends.z3 import sizes
from adrs_spec.backends.z3.checks import check_spec
from adrs_spec.backends.z3.encode import Encoding
from adrs_spec.evaluator import Evaluator, compile_in_memory
from adrs_spec.compile import compile_file
from adrs_spec.lang.statics import bind, shape_of

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHIPPED = ["specs/eplb.adrs", "specs/placement.adrs"]
RANDOM_CASES = 40


class Judge:
    """The Z3 encoding of every invariant of a spec at one size, evaluated on concrete data."""

    def __init__(self, spec, params, tolerance_scale=1.0):
        from dataclasses import replace

        self.spec = replace(spec, tolerance=spec.tolerance * tolerance_scale)
        env = bind(self.spec, params)
        self.domain = sizes.output_domain(self.spec, env)
        self.enc = Encoding(self.spec, env, self.domain)
        self.formulas = {inv.name: self.enc.condition(inv).formula for inv in self.spec.invariants}

    def verdicts(self, data: dict) -> dict[str, bool]:
        """Each invariant's value with every variable fixed to the data (a model of the fixing
        equalities, in which the formulas are evaluated)."""
        solver = z3.Solver()
        for v in self.enc.variables:
            value = data[v.tensor][v.index]
            if v.dtype == "float":
                solver.add(v.z3vars[0] == z3.RealVal(Fraction(float(value))))
            elif v.dtype == "bool":
                solver.add(v.z3vars[0] == bool(value))
            else:
                assert int(value) in self.domain, (v, value)
                solver.add(*(flag if int(value) == d else z3.Not(flag) for d, flag in zip(self.domain, v.z3vars)))
        assert solver.check() == z3.sat
        model = solver.model()
        out = {}
        for name, formula in self.formulas.items():
            term = formula if isinstance(formula, bool) else model.eval(formula, model_completion=True)
            assert isinstance(term, bool) or z3.is_true(term) or z3.is_false(term), (name, term)
            out[name] = term if isinstance(term, bool) else z3.is_true(term)
        return out


def random_inputs(spec, env, rng) -> dict:
    out = {}
    for f in spec.fields():
        shape = shape_of(f, env)
        low = 1 if f.lower is not None and f.lower[0] == ">" else 0
        out[f.name] = rng.integers(low, 6, shape).astype(np.float64) * rng.choice([1.0, 0.5, 7.0])
    return out


def random_outputs(spec, env, domain, rng) -> dict:
    return {o.name: rng.choice(domain, shape_of(o, env)).astype(np.int64) for o in spec.outputs()}


def valid_output(judge: Judge, inputs: dict) -> dict | None:
    """A Z3 witness: an output that passes every invariant for these inputs."""
    solver = z3.Solver()
    solver.set("timeout", 10_000)
    solver.add(*judge.enc.constraints, *judge.formulas.values())
    for v in judge.enc.variables:
        if v.tensor in inputs:
            solver.add(v.z3vars[0] == z3.RealVal(Fraction(float(inputs[v.tensor][v.index]))))
    if solver.check() != z3.sat:
        return None
    from adrs_spec.backends.z3.models import extract

    return {o.name: extract(judge.enc, solver.model(), {}).tensors[o.name] for o in judge.spec.outputs()}


def cases_for(spec, params, judge, rng):
    env = bind(spec, params)
    cases = [(random_inputs(spec, env, rng), random_outputs(spec, env, judge.domain, rng))
             for _ in range(RANDOM_CASES)]
    for _ in range(3):
        inputs = random_inputs(spec, env, rng)
        valid = valid_output(judge, inputs)
        assert valid is not None
        cases.append((inputs, valid))
        for name, array in valid.items():
            for flat in rng.choice(array.size, min(array.size, 4), replace=False):
                changed = {k: v.copy() for k, v in valid.items()}
                others = [d for d in judge.domain if d != array.flat[flat]]
                changed[name].flat[flat] = rng.choice(others)
                cases.append((inputs, changed))
    report = check_spec(spec, params, timeout_s=30)
    models = [r.model for r in report.results if r.model is not None]
    assert models, "the checks produced no model to compare on"
    for m in models:
        cases.append(({f.name: m.tensors[f.name] for f in spec.fields()},
                      {o.name: m.tensors[o.name] for o in spec.outputs()}))
    return cases, len(models)


@pytest.mark.parametrize("path", SHIPPED)
def test_generated_guards_agree_with_the_z3_encoding(path):
    spec = compile_file(os.path.join(ROOT, path))
    params = sizes.choose(spec).params
    judge, looser, stricter = (Judge(spec, params, s) for s in (1.0, 1.001, 0.999))
    rng = np.random.default_rng(7)
    cases, n_models = cases_for(spec, params, judge, rng)
    cases = [({k: v.astype(np.float32).astype(np.float64) for k, v in inputs.items()}, outputs)
             for inputs, outputs in cases]
    evaluator = Evaluator(spec, compile_in_memory(spec))
    guards = evaluator.evaluate_batch(params, [i for i, _ in cases], [o for _, o in cases])
    compared = borderline = 0
    passes = {inv.name: 0 for inv in spec.invariants}
    for k, ((inputs, outputs), result) in enumerate(zip(cases, guards)):
        data = {**inputs, **outputs}
        ours = judge.verdicts(data)
        for g in result.guards:
            if g.passed != ours[g.name] and looser.verdicts(data)[g.name] != stricter.verdicts(data)[g.name]:
                borderline += 1         # float32 rounding may decide this one: neither side is wrong
                continue
            compared += 1
            passes[g.name] += g.passed
            assert g.passed == ours[g.name], (
                f"{path}: case {k}, invariant {g.name}: JAX guard says {g.passed}, Z3 encoding says "
                f"{ours[g.name]}\n{data}")
    assert n_models >= 3
    assert borderline <= compared // 50
    assert all(passes.values()), passes       # every guard was seen passing (and failing, at random)
