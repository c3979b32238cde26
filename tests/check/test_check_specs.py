"""The shipped specs pass every check, and the checks' models mean what they say: a witness
passes every guard of the reference interpreter, a counterexample breaks the claim there.
"""
import os

import numpy as np

from adrs_spec.backends.reference.instance import check_invariant, evaluate_instance
from adrs_spec.backends.reference.interpreter import Interpreter
from adrs_spec.backends.z3.checks import check_spec
from adrs_spec.backends.z3.verdicts import Verdict
from adrs_spec.errors import Source
from adrs_spec.compile import check_source, compile_file
from adrs_spec.lang.statics import bind

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
P = Verdict.PROVED


def eplb():
    return compile_file(os.path.join(ROOT, "specs/eplb.adrs"))


def test_eplb_passes_every_check_and_names_its_second_guards():
    report = check_spec(eplb(), timeout_s=30)
    assert [(r.check, r.subject, r.verdict, r.severity) for r in report.results] == [
        ("requires", "require", P, "error"), ("defaults", "defaults", P, "error"),
        ("consistency", "invariants", P, "error"),
        ("guard", "ids_in_range", P, "info"), ("guard", "counts_match", P, "error"),
        ("guard", "every_expert_placed", P, "error"), ("guard", "replica_slots_in_range", P, "info"),
        ("guard", "inverse_map", P, "error"), ("guard", "slots_listed_once", P, "error"),
        ("guard", "no_dropped_tokens", P, "info"), ("bound", "0 <= balance <= 1", P, "error"),
        ("claim", "replicas_fill_slots_one_to_one", P, "error"), ("claim", "every_token_served", P, "error")]
    assert report.size == {"layers": 1, "experts": 3, "replicas": 4, "groups": 1, "nodes": 1, "gpus": 4}
    assert report.domain == tuple(range(-2, 6))


def test_placement_passes_every_check():
    report = check_spec(compile_file(os.path.join(ROOT, "specs/placement.adrs")), timeout_s=30)
    assert [(r.check, r.verdict) for r in report.results] == [
        ("requires", P), ("defaults", P), ("consistency", P), ("guard", P), ("guard", P), ("bound", P)]
    assert not report.failed


def test_the_consistency_witness_passes_every_guard_of_the_reference_interpreter():
    spec = eplb()
    report = check_spec(spec, fast=True)
    witness = report.results[-1].model
    assert report.results[-1].check == "consistency"
    result = evaluate_instance(spec, bind(spec, witness.params), witness.tensors)
    assert [g.name for g in result.guards if not g.passed] == []


def test_without_its_two_strong_guards_eplb_loses_tokens_of_an_unplaced_expert():
    """The exploit the public EPLB evaluator missed: with no `every_expert_placed` and no
    `no_dropped_tokens`, a placement may leave an expert out and drop its tokens."""
    text = open(os.path.join(ROOT, "specs/eplb.adrs")).read()
    for guard in ("invariant every_expert_placed:\n  forall l, e: logcnt[l, e] >= 1\n",
                  "invariant no_dropped_tokens:\n  forall l: sum(g: gpu_load[l, g]) ~= sum(e: next[l, e])\n"):
        assert guard in text
        text = text.replace(guard, "")
    spec = check_source(Source("eplb_loose.adrs", text))
    report = check_spec(spec, timeout_s=30)
    [refuted] = [r for r in report.results if r.verdict is Verdict.REFUTED]
    assert (refuted.check, refuted.subject) == ("claim", "every_token_served")
    m = refuted.model.tensors
    left_out = np.flatnonzero(m["logcnt"][0] == 0)
    assert left_out.size >= 1 and not np.isin(left_out, m["phy2log"][0]).any()
    assert m["next"][0, left_out].sum() > 0                     # and it had tokens to serve
    env = bind(spec, refuted.model.params)
    data = dict(m)
    checked = evaluate_instance(spec, env, data)
    assert all(g.passed for g in checked.guards)                 # every remaining guard passes
    interp = Interpreter(spec.tolerance, env, {**data, **checked.lets})
    claim = spec.claims[1]
    assert check_invariant(interp, claim).passed is False        # and the claim is broken
