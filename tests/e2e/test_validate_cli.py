"""`adrs-spec validate` end to end: real specs, real policies in the sandbox, real subprocesses."""
import importlib.util
import json
import os
import sys

import numpy as np
import pytest

from adrs_spec.compile import compile_file
from adrs_spec.lang.statics import bind
from adrs_spec.workloads.build import build
from conftest import ROOT, run_cli

sys.path.insert(0, os.path.join(ROOT, "bench"))
from eplb_reference import numpy_evaluate  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def hostile(name: str) -> str:
    return os.path.join(HERE, "policies", name)


def validate_json(*args, cwd):
    code, out, err = run_cli("validate", *args, "--json", cwd=cwd)
    return code, json.loads(out) if out.strip() else None, err


def load_function(path: str, name: str):
    spec = importlib.util.spec_from_file_location("policy_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def direct_balance(spec_path: str, policy_path: str, seed: int = 0, to_torch: bool = False) -> float:
    """The policy called in this process on the same training set, scored by hand-written numpy."""
    spec = compile_file(str(spec_path))
    (group,) = build(spec, spec.workloads[0], seed).groups
    env = bind(spec, group.params)
    fn = load_function(policy_path, "rebalance_experts")
    balances = []
    for weight, nxt in zip(group.fields["weight"], group.fields["next"]):
        if to_torch:
            import torch
            weight = torch.from_numpy(weight)
        outs = [np.asarray(o) for o in fn(weight, env["replicas"], env["groups"], env["nodes"], env["gpus"])]
        valid, balance = numpy_evaluate(nxt[None], *(o[None] for o in outs), env["gpus"])
        assert valid[0]
        balances.append(balance[0])
    return float(np.mean(balances))


def test_round_robin_is_valid_and_scores_what_numpy_says(small_eplb, policies, tmp_path):
    policy = os.path.join(policies, "round_robin.py")
    code, report, err = validate_json(str(small_eplb), policy, cwd=tmp_path)
    assert code == 0, err
    assert report["verdict"] == "VALID"
    (train,) = report["sets"]
    assert (train["name"], train["kind"], train["instances"], train["valid_instances"]) == \
        ("zipf_drift", "train", 4, 4)
    assert train["metrics"]["balance"] == pytest.approx(direct_balance(small_eplb, policy), rel=1e-5)
    assert train["runtime_s"] > 0 and train["score"] is not None


def test_deepseek_in_torch_is_valid_on_every_holdout(small_eplb, policies, tmp_path):
    policy = os.path.join(policies, "deepseek.py")
    code, report, err = validate_json(str(small_eplb), policy, "--array", "torch", "--holdout", cwd=tmp_path)
    assert code == 0, err
    assert report["verdict"] == "VALID"
    names = [s["name"] for s in report["sets"]]
    assert names == ["zipf_drift", "regime_shift", "small_models", "auto_shift", "auto_shapes", "auto_boundary"]
    assert all(s["valid_instances"] == s["instances"] for s in report["sets"])
    assert report["sets"][0]["metrics"]["balance"] == pytest.approx(
        direct_balance(small_eplb, policy, to_torch=True), rel=1e-5)


def test_a_dropped_expert_is_invalid_with_witnesses(small_eplb, tmp_path):
    code, out, err = run_cli("validate", str(small_eplb), hostile("drops_expert.py"), cwd=tmp_path)
    assert code == 1, err
    lines = out.splitlines()
    assert lines[0].startswith("INVALID: ")
    assert "8 invariant violation(s) (every_expert_placed, no_dropped_tokens)" in lines[0]
    placed = [ln for ln in lines if ln.startswith("  every_expert_placed: zipf_drift case 0, w = 0; l = 0, e = ")]
    assert len(placed) == 1 and placed[0].endswith("logcnt[0, %s] = 0" % placed[0].split("e = ")[1].split(":")[0])
    assert "  every_expert_placed: ... and 1 more instance(s) in zipf_drift" in lines
    (dropped,) = [ln for ln in lines if ln.startswith("  no_dropped_tokens: zipf_drift case 0, w = 0; l = 0: ")]
    placed, routed = dropped.split("l = 0: ", 1)[1].split(", sum(e: next[l, e]) = ")
    assert placed.startswith("sum(g: gpu_load[l, g]) = ")
    assert float(placed.split(" = ")[1]) < float(routed) == 4096


def test_wrong_output_shape_is_invalid_with_the_reason(small_eplb, tmp_path):
    code, report, _ = validate_json(str(small_eplb), hostile("wrong_shape.py"), cwd=tmp_path)
    assert code == 1 and report["verdict"] == "INVALID"
    failure = report["sets"][0]["failure"]
    assert failure["kind"] == "bad_output"
    assert failure["message"] == "output 3 `logcnt` has shape (3, 15); the spec expects (3, 16)"


@pytest.mark.parametrize("policy, needle", [
    ("syntax_error.py", "syntax_error.py:1"),
    ("wrong_arguments.py", "rebalance_experts(weight, num_replicas)"),
    ("no_such_policy.py", "no such policy file"),
])
def test_unusable_policy_files_are_input_errors(small_eplb, tmp_path, policy, needle):
    code, out, err = run_cli("validate", str(small_eplb), hostile(policy), cwd=tmp_path)
    assert code == 2 and out == ""
    assert err.splitlines()[-1].startswith("error: ") and needle in err and "Traceback" not in err


def test_unknown_workload_is_an_input_error(small_eplb, policies, tmp_path):
    code, _, err = run_cli("validate", str(small_eplb), os.path.join(policies, "round_robin.py"),
                           "--workload", "zipf", cwd=tmp_path)
    assert code == 2
    assert err.strip() == f"error: no workload named `zipf` in {small_eplb}; it declares: zipf_drift"


def test_a_vllm_trace_replaces_the_generated_workload(small_eplb, policies, tmp_path):
    rng = np.random.default_rng(0)
    records = rng.integers(0, 50, size=(250, 3, 16))
    trace = tmp_path / "expert-load.json"
    trace.write_text(json.dumps({"load_history": records.tolist()}))
    code, report, err = validate_json(str(small_eplb), os.path.join(policies, "round_robin.py"),
                                      "--trace", str(trace), "--window", "50", cwd=tmp_path)
    assert code == 0, err
    (train,) = report["sets"]
    assert (train["name"], train["instances"], train["valid_instances"]) == ("expert-load.json", 4, 4)
    assert report["notes"] == []
    code, report, err = validate_json(str(small_eplb), os.path.join(policies, "round_robin.py"),
                                      "--trace", str(trace), "--window", "60", cwd=tmp_path)
    assert code == 0 and report["sets"][0]["instances"] == 4, err      # 4 windows of 60, then 10 passes: scored
    assert report["notes"] == ["expert-load.json: the last window holds 10 of 60 forward passes: scored as the "
                               "last window, as the public EPLB evaluator does (--partial-window drop leaves it out)"]
    code, report, err = validate_json(str(small_eplb), os.path.join(policies, "round_robin.py"),
                                      "--trace", str(trace), "--window", "60", "--partial-window", "drop", cwd=tmp_path)
    assert code == 0 and report["sets"][0]["instances"] == 3, err
    assert report["notes"] == ["expert-load.json: the last window holds 10 of 60 forward passes: dropped "
                               "(--partial-window score keeps it)"]
    code, _, err = run_cli("validate", str(small_eplb), os.path.join(policies, "round_robin.py"),
                           "--trace", str(tmp_path / "missing.json"), cwd=tmp_path)
    assert code == 2 and "missing.json: no such trace file" in err


def test_placement_greedy_beats_round_robin(tmp_path):
    spec = os.path.join(ROOT, "specs/placement.adrs")
    scores = {}
    for name in ("greedy", "round_robin"):
        code, report, err = validate_json(spec, os.path.join(ROOT, f"specs/placement/policies/{name}.py"),
                                          cwd=tmp_path)
        assert code == 0 and report["verdict"] == "VALID", err
        scores[name] = report["sets"][0]["metrics"]["max_kvpr"]
    assert scores["greedy"] < scores["round_robin"]


def test_memory_zero_lifts_the_limit_and_a_small_one_stops_the_policy(small_eplb, policies, tmp_path):
    policy = os.path.join(policies, "round_robin.py")
    code, report, err = validate_json(str(small_eplb), policy, "--memory", "0", cwd=tmp_path)
    assert code == 0 and report["verdict"] == "VALID", err
    code, report, _ = validate_json(str(small_eplb), policy, "--memory", "0.1", cwd=tmp_path)
    assert code == 1 and report["verdict"] == "ERROR"
    assert report["sets"][0]["failure"]["kind"] == "memory"
    assert report["sets"][0]["failure"]["message"].startswith("the memory limit (102.4 MiB) is below what the "
                                                              "sandbox process with numpy maps")
    code, _, err = run_cli("validate", str(small_eplb), policy, "--memory", "0.05", cwd=tmp_path)
    assert code == 2 and err.strip() == ("error: --memory 0.05 GiB is below the sandbox's minimum of 64 MiB; "
                                         "give at least 0.0625, or 0 for no limit")


@pytest.mark.parametrize("shape, message", [
    ((5, 3, 15), "the workload's params break a requirement: requirement `experts % groups == 0` does not hold "
                 "for layers = 3, experts = 15, replicas = 24, groups = 4, nodes = 2, gpus = 4"),
    ((1, 3, 16), "workload `zipf_drift` yields no instances: the range of `w` is empty for these traces (e.g. a "
                 "trace of one window when instances pair each window with the next)"),
    ((5, 3), "trace `load` has 3 dimension(s), but the data has shape (5, 3)"),
])
def test_a_trace_that_does_not_fit_the_spec_is_an_input_error(small_eplb, policies, tmp_path, shape, message):
    trace = tmp_path / "trace.npz"
    np.savez(trace, load=np.ones(shape))
    code, out, err = run_cli("validate", str(small_eplb), os.path.join(policies, "round_robin.py"),
                             "--trace", str(trace), cwd=tmp_path)
    assert code == 2 and out == ""
    assert err.strip() == f"error: {trace}: {message}"


def test_out_of_range_options_are_usage_errors(small_eplb, policies, tmp_path):
    policy = os.path.join(policies, "round_robin.py")
    for option, value in (("--seed", "-5"), ("--timeout", "0"), ("--window", "0")):
        code, _, err = run_cli("validate", str(small_eplb), policy, option, value, cwd=tmp_path)
        assert code == 2 and f"Invalid value for '{option}'" in err and "Traceback" not in err


def test_padding_inside_the_live_part_is_reported_with_the_values_read(small_eplb, tmp_path):
    code, out, _ = run_cli("validate", str(small_eplb), hostile("minus_one_live.py"), cwd=tmp_path)
    lines = out.splitlines()
    assert code == 1
    assert lines[0].endswith("12 invariant violation(s) (inverse_map, replica_slots_in_range, slots_listed_once)")
    assert lines[1:4] == [
        "  replica_slots_in_range: zipf_drift case 0, w = 0; l = 0, e = 4, r = 0: logcnt[0, 4] = 2, "
        "log2phy[0, 4, 0] = -1",
        "  inverse_map: zipf_drift case 0, w = 0; l = 0, e = 4, r = 0: logcnt[0, 4] = 2, log2phy[0, 4, 0] = -1, "
        "phy2log[0, -1] (read at [0, 0]) = 0",
        "  slots_listed_once: zipf_drift case 0, w = 0; l = 0, p = 8: "
        "count(e, r where r < logcnt[l, e]: log2phy[l, e, r] == p) = 0",
    ]
