"""Exact optima of tiny instances: the value is attained by a valid output, and proven best."""
import os

import numpy as np
import pytest

from adrs_spec.backends.reference.instance import evaluate_instance
from adrs_spec.backends.z3.optimum import optimum
from adrs_spec.backends.z3.verdicts import Verdict
from adrs_spec.compile import compile_file
from adrs_spec.lang.statics import bind

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def eplb():
    return compile_file(os.path.join(ROOT, "specs/eplb.adrs"))


def test_the_best_eplb_balance_of_a_tiny_instance(eplb):
    # 3 experts, 4 slots on 4 GPUs, loads 3, 1, 1: the hot expert takes two slots (1.5 each),
    # the GPU loads are 1.5, 1.5, 1, 1 and the balance is 1.25 / 1.5 = 5 / 6; nothing does better.
    params = {"layers": 1, "experts": 3, "replicas": 4, "gpus": 4, "nodes": 1, "groups": 1}
    load = np.array([[3.0, 1.0, 1.0]])
    best = optimum(eplb, params, {"weight": load, "next": load}, eplb.objectives[0])
    assert best.verdict is Verdict.PROVED and best.direction == "maximize"
    assert best.value == pytest.approx(5 / 6, abs=1e-12)
    assert 5 / 6 <= best.bound <= 5 / 6 * (1 + 1e-4)
    checked = evaluate_instance(eplb, bind(eplb, params), best.model.tensors)
    assert checked.passed and checked.metrics["balance"] == pytest.approx(5 / 6)
    assert sorted(best.model.tensors["logcnt"][0]) == [1, 1, 2] and best.model.tensors["logcnt"][0, 0] == 2


def test_an_objective_over_runtime_is_skipped(eplb):
    params = {"layers": 1, "experts": 3, "replicas": 4, "gpus": 4, "nodes": 1, "groups": 1}
    load = np.array([[3.0, 1.0, 1.0]])
    result = optimum(eplb, params, {"weight": load, "next": load}, eplb.objectives[1])
    assert result.verdict is Verdict.SKIPPED
    line = next(i for i, text in enumerate(open(eplb.source_name), 1) if text.startswith("objective minimize runtime"))
    assert result.reason == f"`runtime` is measured when a policy runs, not modelled (line {line}, column 20)"
