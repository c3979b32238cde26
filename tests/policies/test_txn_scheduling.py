"""specs/txn_scheduling.adrs against the ADRS leaderboard: its three public workloads, makespans
from its own simulator (tests/fixtures/txn_leaderboard), its score formula; the baselines;
the JSON importer and the transaction-set generators."""
import importlib.util
import json
import os

import numpy as np
import pytest

from adrs_spec.lang import scoring
from adrs_spec.backends.reference.instance import evaluate_instance
from adrs_spec.errors import InputError, Source
from adrs_spec.evaluator import Evaluator, load_generated
from adrs_spec.compile import check_source, compile_file
from adrs_spec.lang.statics import bind
from adrs_spec.workloads.generators import GENERATORS
from adrs_spec.workloads.txn_json import load_txn_workload, parse_txn_workload
from conftest import ROOT

FIXTURES = os.path.join(ROOT, "tests", "fixtures", "txn_leaderboard")
EXPECTED = json.load(open(os.path.join(FIXTURES, "makespans.json")))["workloads"]


@pytest.fixture(scope="module")
def spec():
    return compile_file(os.path.join(ROOT, "specs", "txn_scheduling.adrs"))


@pytest.fixture(scope="module")
def evaluator(spec):
    return Evaluator(spec, load_generated("txn_scheduling", os.path.join(ROOT, "generated")))


def public(k: int):
    return load_txn_workload(os.path.join(FIXTURES, f"workload_{k}.json"))


def policy(name: str):
    path = os.path.join(ROOT, "specs", "txn_scheduling", "policies", f"{name}.py")
    loader = importlib.util.spec_from_file_location(f"txn_policy_{name}", path)
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    return module.schedule


@pytest.mark.parametrize("k", [1, 2, 3])
def test_generated_evaluator_agrees_exactly_with_the_leaderboard_simulator(evaluator, k):
    fields, params = public(k)
    expected = EXPECTED[k - 1]
    got = evaluator.evaluate_batch(params, [fields] * len(expected["orders"]),
                                   [{"order": np.array(o)} for o in expected["orders"]])
    assert [g.metrics["makespan"] for g in got] == expected["makespans"]
    assert all(g.passed for g in got)
    assert got[0].metrics["sequential"] == expected["makespans"][0]     # the first order is 0, 1, ...
    assert got[0].metrics["longest"] == expected["longest"]


@pytest.mark.parametrize("k", [1, 2, 3])
def test_reference_interpreter_agrees_with_the_leaderboard_simulator(spec, k):
    fields, params = public(k)
    expected = EXPECTED[k - 1]
    env = bind(spec, params)
    for order, makespan in list(zip(expected["orders"], expected["makespans"]))[1:3]:
        result = evaluate_instance(spec, env, {**fields, "order": np.array(order)})
        assert result.metrics["makespan"] == makespan


def test_the_score_is_the_leaderboard_formula_over_the_three_workloads(spec, evaluator):
    greedy = policy("greedy")
    makespans, baseline, optimal = 0, 0, 0
    results = []
    for k in (1, 2, 3):
        fields, params = public(k)
        order = greedy(**fields)
        (got,) = evaluator.evaluate_batch(params, [fields], [{"order": order}])
        assert got.passed
        results.append(got.metrics)
        makespans += got.metrics["makespan"]
        baseline += EXPECTED[k - 1]["makespans"][0]
        optimal += EXPECTED[k - 1]["longest"]
    assert (baseline, optimal) == (537, 46)        # the leaderboard's baseline_cache.json
    effective = optimal + 0.10 * (baseline - optimal)
    leaderboard = max(0.0, min(100.0, (baseline - makespans) / (baseline - effective) * 100))
    assert scoring.evaluate_score(spec, scoring.aggregate(spec, results), None) == pytest.approx(leaderboard, rel=1e-12)
    assert makespans < baseline and leaderboard > 0


def test_the_sequential_order_scores_zero(spec):
    assert scoring.evaluate_score(spec, {"makespan": 537.0, "sequential": 537.0, "longest": 46.0}, None) == 0
    assert scoring.evaluate_score(spec, {"makespan": 10.0, "sequential": 537.0, "longest": 46.0}, None) == 100


def test_a_schedule_that_repeats_a_transaction_is_invalid(evaluator):
    fields, params = public(3)
    order = np.arange(100)
    order[5] = 4
    (got,) = evaluator.evaluate_batch(params, [fields], [{"order": order}])
    assert got.guard("each_txn_once").witness == (4,)          # transaction 4 twice (and 5 never)
    assert got.guard("order_in_range").passed


# ---- the simple form of the same executor: a recurrence over every earlier step ----
RECURRENCE = """
let first[i in 0 .. txns] = max(1, max(j, p in 0 .. i, q where key[order[i], j] >= 0 and
                                       key[order[p], q] == key[order[i], j] and
                                       (write[order[i], j] == 1 or write[order[p], q] == 1):
                                     first[p] + offset[order[p], q] + 1 - offset[order[i], j])) initially 0
metric makespan_again = max(0, max(i: if any(j: key[order[i], j] >= 0) then first[i] + length[order[i]] - 1
                                    else 0))
"""


def test_the_recurrence_form_agrees_with_the_step_block(spec):
    text = open(os.path.join(ROOT, "specs", "txn_scheduling.adrs")).read() + RECURRENCE
    both = check_source(Source("txn_both.adrs", text))
    from adrs_spec.evaluator import compile_in_memory
    ev = Evaluator(both, compile_in_memory(both))
    rng = np.random.default_rng(3)
    for k in (2, 3):
        fields, params = public(k)
        orders = [rng.permutation(100) for _ in range(4)]
        got = ev.evaluate_batch(params, [fields] * 4, [{"order": o} for o in orders])
        assert [g.metrics["makespan_again"] for g in got] == [g.metrics["makespan"] for g in got]


# ---- baselines ----
def test_greedy_on_the_public_workloads(evaluator):
    greedy = policy("greedy")
    makespans = []
    for k in (1, 2, 3):
        fields, params = public(k)
        (got,) = evaluator.evaluate_batch(params, [fields], [{"order": greedy(**fields)}])
        assert got.passed
        makespans.append(got.metrics["makespan"])
    assert makespans == [228, 38, 39]      # the second keeps the given order (greedy alone: 56)


def test_sequential_baseline_is_the_identity():
    fields, _ = public(1)
    assert policy("sequential")(**fields).tolist() == list(range(100))


# ---- the importer ----
def test_importer_reads_operations_offsets_and_idle_slots():
    fields, params = parse_txn_workload('{"txn0": "w-17 r-5 * r-17", "txn1": "r-5", "txn2": "* w-9 *"}')
    assert params == {"txns": 3, "ops": 3, "keys": 3}
    assert fields["key"].tolist() == [[0, 1, 0], [1, -1, -1], [2, -1, -1]]
    assert fields["write"].tolist() == [[1, 0, 0], [0, 0, 0], [1, 0, 0]]
    assert fields["offset"].tolist() == [[0, 1, 3], [0, 0, 0], [1, 0, 0]]
    assert fields["length"].tolist() == [4, 1, 3]


@pytest.mark.parametrize("text,message", [
    ("[1, 2]", "a workload is a non-empty JSON object of transactions"),
    ("{}", "a workload is a non-empty JSON object of transactions"),
    ('{"txn0": 5}', "transaction 'txn0' is int, not a string of operations"),
    ('{"txn0": "w-1 x-2"}', "transaction 'txn0', operation 2: 'x-2' is not `r-KEY`, `w-KEY` or `*`"),
    ('{"txn0": "w-1  r-2"}', "transaction 'txn0', operation 2: '' is not `r-KEY`, `w-KEY` or `*`"),
    ('{"txn0": "w-"}', "transaction 'txn0', operation 1: 'w-' is not"),
    ("{", "not JSON"),
])
def test_importer_errors_name_the_transaction_and_operation(text, message):
    with pytest.raises(InputError) as info:
        parse_txn_workload(text, "w.json")
    assert message in str(info.value) and str(info.value).startswith("w.json: ")


def test_importer_missing_file(tmp_path):
    with pytest.raises(InputError, match="cannot read the workload"):
        load_txn_workload(str(tmp_path / "none.json"))


# ---- the generators ----
def test_the_three_generators_draw_parts_of_one_transaction_set():
    args = dict(seed=7, keys=30, skew=1.1, write_frac=0.5, min_len=3, max_len=6)
    rng = np.random.default_rng(0)
    key = GENERATORS["txn_keys"](rng, (20, 8), **args).astype(int)
    write = GENERATORS["txn_writes"](rng, (20, 8), **args).astype(int)
    offset = GENERATORS["txn_offsets"](rng, (20, 8), **args).astype(int)
    length = GENERATORS["txn_lengths"](rng, (20,), **args).astype(int)
    for t in range(20):
        n = length[t]
        assert 3 <= n <= 6
        assert (key[t, :n] >= 0).all() and (key[t, n:] == -1).all() and len(set(key[t, :n])) == n
        assert offset[t, :n].tolist() == list(range(n)) and (write[t, n:] == 0).all()
    assert set(np.unique(write)) <= {0, 1}
    again = GENERATORS["txn_keys"](np.random.default_rng(99), (20, 8), **args)
    assert (again == key).all()                    # the seed argument, not the case rng, fixes the set


def test_generator_refuses_lengths_that_do_not_fit():
    from adrs_spec.workloads.generators import GeneratorError
    with pytest.raises(GeneratorError, match="do not fit in the trace's 4 operation slots"):
        GENERATORS["txn_keys"](np.random.default_rng(0), (5, 4), seed=1, keys=10, min_len=2, max_len=6)


@pytest.mark.parametrize("k", [1, 3])
def test_validate_reads_a_leaderboard_workload_file_as_its_trace(k):
    from tests.conftest import run_cli

    expected = json.load(open(os.path.join(FIXTURES, "makespans.json")))["workloads"][k - 1]
    path = os.path.join(FIXTURES, f"workload_{k}.json")
    code, stdout, stderr = run_cli("validate", "specs/txn_scheduling.adrs",
                                   "specs/txn_scheduling/policies/sequential.py", "--trace", path, "--json")
    assert code == 0, stderr
    entry = json.loads(stdout)["sets"][0]
    assert entry["name"] == f"workload_{k}.json" and entry["instances"] == entry["valid_instances"] == 1
    # the identity order is the first order of the fixture; its makespan is the leaderboard's
    assert entry["metrics"]["makespan"] == expected["makespans"][0] == entry["metrics"]["sequential"]
    assert entry["metrics"]["longest"] == expected["longest"]

