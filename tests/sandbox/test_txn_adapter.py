"""The txn_scheduling adapter: policies written to the leaderboard's `get_best_schedule(workload,
num_seqs)` run unchanged, with its `Workload` object and cost oracle; the claimed makespan is
ignored; results the adapter cannot read are invalid outputs with its message."""
import importlib.util
import json
import os
import shutil
import sys

import numpy as np
import pytest

from adrs_spec.validate_run import render_report, run_validation
from adrs_spec.workloads.txn_json import load_txn_workload
from conftest import ROOT

FIXTURES = os.path.join(ROOT, "tests", "fixtures", "txn_leaderboard")

# Written the way the leaderboard's files are: module-level imports of its simulator and
# workloads, a cost oracle, and a (makespan, schedule) result, here with a false makespan.
SEQUENTIAL = '''
from txn_simulator import Workload
from workloads import WORKLOAD_1, WORKLOAD_2, WORKLOAD_3


def get_best_schedule(workload, num_seqs):
    assert isinstance(workload, Workload) and num_seqs == 10
    return -1, list(range(workload.num_txns))
'''

ORACLE_GREEDY = '''
def get_best_schedule(workload, num_seqs):
    order, left = [], list(range(workload.num_txns))
    while left:
        best = min(left, key=lambda t: (workload.get_opt_seq_cost(order + [t]), -workload.txns[t][0][3], t))
        order.append(best)
        left.remove(best)
    return workload.get_opt_seq_cost(order), order
'''


@pytest.fixture
def txn_spec(tmp_path):
    """txn_scheduling.adrs at 2 cases of 20 transactions, with its adapter next to it."""
    text = open(os.path.join(ROOT, "specs/txn_scheduling.adrs")).read()
    for old, new in (("cases 16", "cases 2"), ("  txns = 100\n", "  txns = 20\n")):
        assert old in text
        text = text.replace(old, new)
    spec = tmp_path / "txn_scheduling.adrs"
    spec.write_text(text)
    (tmp_path / "txn_scheduling").mkdir()
    shutil.copy(os.path.join(ROOT, "specs/txn_scheduling/leaderboard.py"), tmp_path / "txn_scheduling")
    return spec


def validate(spec, tmp_path, name: str, code: str):
    policy = tmp_path / f"{name}.py"
    policy.write_text(code)
    return run_validation(str(spec), str(policy), timeout=60)


def test_a_leaderboard_policy_scores_as_the_native_one_and_its_claim_is_ignored(txn_spec, tmp_path):
    public = validate(txn_spec, tmp_path, "public_sequential", SEQUENTIAL)
    native = run_validation(str(txn_spec), os.path.join(ROOT, "specs/txn_scheduling/policies/sequential.py"),
                            timeout=60)
    assert public.verdict == native.verdict == "VALID"
    assert public.sets[0].interface == "leaderboard" and native.sets[0].interface is None
    assert public.sets[0].metrics == native.sets[0].metrics
    assert public.sets[0].metrics["makespan"] > 0                    # not the -1 it claimed
    assert "(run through the spec's adapter `leaderboard`)" in render_report(public).splitlines()[1]


def test_a_policy_searching_with_the_cost_oracle_is_scored_by_the_spec(txn_spec, tmp_path):
    report = validate(txn_spec, tmp_path, "oracle_greedy", ORACLE_GREEDY)
    assert report.verdict == "VALID"
    metrics = report.sets[0].metrics
    assert metrics["makespan"] < metrics["sequential"]


@pytest.mark.parametrize("name, body, message", [
    ("short", "def get_best_schedule(workload, num_seqs):\n    return 0, list(range(workload.num_txns - 1))\n",
     "the schedule lists 19 transactions; the workload has 20, each to be listed once"),
    ("names", "def get_best_schedule(workload, num_seqs):\n    return 0, ['txn0'] * workload.num_txns\n",
     "schedule entry 0 is 'txn0', not a transaction index"),
    ("a_dict", "def get_best_schedule(workload, num_seqs):\n    return {'schedule': []}\n",
     "expected (makespan, schedule) with the schedule a list of transaction indices, got dict"),
])
def test_a_result_the_adapter_cannot_read_is_an_invalid_output(txn_spec, tmp_path, name, body, message):
    report = validate(txn_spec, tmp_path, name, body)
    assert report.verdict == "INVALID"
    failure = report.sets[0].failure
    assert failure["kind"] == "bad_output"
    assert failure["message"] == ("the `get_best_schedule` result does not fit the spec (adapter `leaderboard`): "
                                  + message)


def test_a_repeated_transaction_breaks_the_spec_invariant(txn_spec, tmp_path):
    body = "def get_best_schedule(workload, num_seqs):\n    return 0, [0] * workload.num_txns\n"
    report = validate(txn_spec, tmp_path, "repeats", body)
    assert report.verdict == "INVALID" and "each_txn_once" in report.sets[0].violation_counts


@pytest.fixture(scope="module")
def adapter():
    path = os.path.join(ROOT, "specs/txn_scheduling/leaderboard.py")
    loader = importlib.util.spec_from_file_location("txn_leaderboard_adapter", path)
    module = importlib.util.module_from_spec(loader)
    sys.modules["txn_leaderboard_adapter"] = module
    loader.loader.exec_module(module)
    yield module
    for name in ("txn_leaderboard_adapter", "txn_simulator", "workloads"):
        sys.modules.pop(name, None)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_the_cost_oracle_agrees_with_the_leaderboard_simulator(adapter, k):
    fields, _ = load_txn_workload(os.path.join(FIXTURES, f"workload_{k}.json"))
    expected = json.load(open(os.path.join(FIXTURES, "makespans.json")))["workloads"][k - 1]
    (workload, num_seqs), txns = adapter.inputs(**fields)
    assert num_seqs == 10 and txns == workload.num_txns == 100
    assert [workload.get_opt_seq_cost(o) for o in expected["orders"]] == expected["makespans"]
    assert max(t[0][3] for t in workload.txns) == expected["longest"]
    original = list(json.load(open(os.path.join(FIXTURES, f"workload_{k}.json"))).values())
    renamed = {name: str(i) for i, name in enumerate(dict.fromkeys(
        op[2:] for txn in original for op in txn.split(" ") if op != "*"))}
    assert workload.workload == [" ".join(op if op == "*" else f"{op[0]}-{renamed[op[2:]]}" for op in txn.split(" "))
                                 for txn in original]


def test_the_adapter_returns_the_schedule_of_a_pair_or_a_bare_list(adapter):
    assert adapter.outputs((7, [2, 0, 1]), 3).tolist() == [2, 0, 1]
    assert adapter.outputs([2, 0, 1], 3).tolist() == [2, 0, 1]
    assert adapter.outputs((7, np.array([1, 0])), 2).tolist() == [1, 0]
