"""Exact optima of tiny instances: proven symmetries, the search against brute force, the
stored optima of the shipped specs, `adrs-spec optima` and the gap `validate` prints."""
import importlib.util
import itertools
import json
import os

import numpy as np
import pytest

from adrs_spec import optima
from adrs_spec.backends.reference.instance import evaluate_instance
from adrs_spec.backends.z3 import symmetry
from adrs_spec.backends.z3.optimum import _Problem, optimum
from adrs_spec.backends.z3.verdicts import Verdict
from adrs_spec.compile import compile_file
from adrs_spec.lang.statics import bind
from tests.conftest import ROOT, run_cli


@pytest.fixture(scope="module")
def eplb():
    return compile_file(os.path.join(ROOT, "specs/eplb.adrs"))


@pytest.fixture(scope="module")
def placement():
    return compile_file(os.path.join(ROOT, "specs/placement.adrs"))


def _placement_instance(seed: int, models: int) -> dict:
    rng = np.random.default_rng(seed)
    return {"size": rng.integers(10, 30, models).astype(float), "req_rate": rng.integers(1, 10, models).astype(float),
            "slo": rng.integers(5, 10, models).astype(float)}


def test_the_slots_of_a_gpu_and_the_gpus_are_found_interchangeable(eplb):
    load = np.array([[40.0, 10.0, 7.0, 3.0]])
    params = {"layers": 1, "experts": 4, "replicas": 6, "gpus": 2, "nodes": 1, "groups": 1}
    problem = _Problem(eplb, params, {"weight": load, "next": load}, eplb.objectives[0])
    assert problem.searched == ["phy2log", "logcnt"] and problem.projected      # log2phy is completed
    found = symmetry.find(problem.enc, problem.searched, problem.relaxed, problem.goal, float("inf"))
    assert found == [symmetry.Symmetry("positions", "phy2log", (0, 1, 2, 3, 4, 5), block=3, blocks=2)]


def test_gpu_names_are_found_interchangeable_in_placement(placement):
    problem = _Problem(placement, {"gpus": 3, "models": 4}, _placement_instance(0, 4), placement.objectives[0])
    found = symmetry.find(problem.enc, problem.searched, problem.relaxed, problem.goal, float("inf"))
    assert symmetry.Symmetry("values", "gpu_of", (0, 1, 2)) in found
    assert all(s.kind == "values" for s in found)      # models differ in size: no two positions swap


def test_a_swap_that_changes_the_objective_is_not_a_symmetry(eplb):
    # Slot 2 is on GPU 0 and slot 3 on GPU 1: swapping them moves load between GPUs.
    load = np.array([[40.0, 10.0, 7.0, 3.0]])
    params = {"layers": 1, "experts": 4, "replicas": 6, "gpus": 2, "nodes": 1, "groups": 1}
    problem = _Problem(eplb, params, {"weight": load, "next": load}, eplb.objectives[0])
    finder = symmetry.Finder(problem.enc, problem.relaxed, problem.goal, float("inf"))
    flags = [dict(x.pairs) for x in problem.enc.elements("phy2log").flat]
    swap = [pair for v in flags[2] for pair in ((flags[2][v], flags[3][v]), (flags[3][v], flags[2][v]))]
    assert finder.harmless(swap) is False


def _eplb_brute_force(load: np.ndarray, replicas: int, gpus: int) -> float:
    """The best balance over every phy2log that places every expert (sorted within GPUs)."""
    experts, slots = load.size, replicas // gpus
    best = 0.0
    for phy in itertools.product(range(experts), repeat=replicas):
        counts = np.bincount(phy, minlength=experts)
        if counts.min() == 0:
            continue
        per_slot = load[list(phy)] / counts[list(phy)]
        gpu = per_slot.reshape(gpus, slots).sum(axis=1)
        best = max(best, gpu.mean() / gpu.max())
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_eplb_optimum_equals_brute_force(eplb, seed):
    rng = np.random.default_rng(seed)
    load = rng.integers(1, 60, (1, 4)).astype(float)
    params = {"layers": 1, "experts": 4, "replicas": 6, "gpus": 2, "nodes": 1, "groups": 1}
    best = optimum(eplb, params, {"weight": load, "next": load}, eplb.objectives[0], timeout_s=60)
    assert best.verdict is Verdict.PROVED and best.bound == best.value
    assert best.value == pytest.approx(_eplb_brute_force(load[0], 6, 2), rel=1e-12)
    checked = evaluate_instance(eplb, bind(eplb, params), best.model.tensors)
    assert checked.passed and checked.metrics["balance"] == pytest.approx(best.value, rel=1e-12)


@pytest.mark.parametrize("symmetries, project", [(False, True), (False, False)])
def test_each_shortcut_of_the_search_leaves_the_optimum_unchanged(eplb, symmetries, project):
    load = np.array([[33.0, 20.0, 8.0, 5.0]])
    params = {"layers": 1, "experts": 4, "replicas": 6, "gpus": 2, "nodes": 1, "groups": 1}
    result = optimum(eplb, params, {"weight": load, "next": load}, eplb.objectives[0], timeout_s=60,
                     symmetries=symmetries, project=project)
    assert result.verdict is Verdict.PROVED and result.symmetries == ()
    assert result.value == pytest.approx(_eplb_brute_force(load[0], 6, 2), rel=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_the_placement_optimum_equals_brute_force(placement, seed):
    params = {"gpus": 3, "models": 6}
    inst = _placement_instance(seed, 6)
    env = bind(placement, params)
    values = []
    for gpu_of in itertools.product(range(3), repeat=6):
        r = evaluate_instance(placement, env, {**inst, "gpu_of": np.array(gpu_of, dtype=np.int64)})
        if r.passed:
            values.append(r.metrics["max_kvpr"])
    best = optimum(placement, params, inst, placement.objectives[0], timeout_s=60)
    assert best.verdict is Verdict.PROVED
    assert best.value == pytest.approx(min(values), rel=1e-12)


def test_a_hint_starts_the_search_and_the_answer_is_the_same(eplb):
    load = np.array([[50.0, 20.0, 9.0, 4.0]])
    params = {"layers": 1, "experts": 4, "replicas": 6, "gpus": 2, "nodes": 1, "groups": 1}
    phy = np.array([[0, 1, 2, 0, 3, 0]])
    hint = {"phy2log": phy, "logcnt": np.array([[3, 1, 1, 1]]),
            "log2phy": np.array([[[0, 3, 5], [1, -1, -1], [2, -1, -1], [4, -1, -1]]])}
    plain = optimum(eplb, params, {"weight": load, "next": load}, eplb.objectives[0], timeout_s=60)
    hinted = optimum(eplb, params, {"weight": load, "next": load}, eplb.objectives[0], timeout_s=60, hints=[hint])
    assert plain.verdict is hinted.verdict is Verdict.PROVED
    assert hinted.value == pytest.approx(plain.value, rel=1e-12)
    assert hinted.value == pytest.approx(_eplb_brute_force(load[0], 6, 2), rel=1e-12)


def test_a_timeout_gives_the_best_found_not_an_optimum(eplb):
    load = np.array([[90.0, 51.0, 33.0, 20.0, 12.0, 7.0, 5.0, 2.0]])
    params = {"layers": 1, "experts": 8, "replicas": 16, "gpus": 4, "nodes": 1, "groups": 1}
    result = optimum(eplb, params, {"weight": load, "next": load}, eplb.objectives[0], timeout_s=0.5)
    assert result.verdict is Verdict.UNKNOWN and result.bound is None
    assert "not a proven optimum" in result.reason


@pytest.mark.parametrize("name", ["eplb", "placement"])
def test_the_stored_optima_are_attained_and_current(name):
    spec = compile_file(os.path.join(ROOT, f"specs/{name}.adrs"))
    stored = optima.read(os.path.join(ROOT, f"specs/{name}/optima.json"), spec)
    assert stored.spec_sha256 == spec.source_sha256, f"rerun `adrs-spec optima specs/{name}.adrs`"
    assert len(stored.instances) == 20 and len(stored.proven) >= 18
    objective = spec.objectives[stored.objective_index]
    metric = objective.expr.name
    env = bind(spec, stored.params)
    for t in stored.proven:
        result = evaluate_instance(spec, env, {**t.fields, **t.outputs})
        assert result.passed, t.label
        assert result.metrics[metric] == pytest.approx(t.value, rel=1e-9), t.label


def test_a_stored_eplb_optimum_is_proven_again(eplb):
    stored = optima.read(os.path.join(ROOT, "specs/eplb/optima.json"), eplb)
    fastest = min(stored.proven, key=lambda t: t.seconds)
    again = optimum(eplb, stored.params, fastest.fields, eplb.objectives[0], timeout_s=120)
    assert again.verdict is Verdict.PROVED and again.value == pytest.approx(fastest.value, rel=1e-12)


def _load_policy(path: str):
    spec_ = importlib.util.spec_from_file_location("policy_under_test", path)
    module = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(module)
    return module


def test_optima_cli_then_validate_prints_the_gap(tmp_path, placement):
    out = tmp_path / "optima.json"
    code, stdout, stderr = run_cli("optima", "specs/placement.adrs", "--size", "gpus=2,models=4", "--instances", "3",
                                   "--timeout", "60", "--out", str(out))
    assert code == 0, stderr
    assert f"3 of 3 optima proven (minimize max_kvpr) -> {out}" in stdout
    stored = optima.read(str(out), placement)
    assert stored.params == {"gpus": 2, "models": 4, "memory": 80.0} and [t.verdict for t in stored.instances] == ["PROVED"] * 3

    policy = os.path.join(ROOT, "specs/placement/policies/greedy.py")
    place = _load_policy(policy).place
    env = bind(placement, stored.params)
    ratios = []
    for t in stored.proven:
        gpu_of = np.asarray(place(t.fields["size"], t.fields["req_rate"], t.fields["slo"], 2), dtype=np.int64)
        value = evaluate_instance(placement, env, {**t.fields, "gpu_of": gpu_of}).metrics["max_kvpr"]
        ratios.append(t.value / value)
    code, stdout, stderr = run_cli("validate", "specs/placement.adrs", policy, "--optima", str(out))
    assert code == 0, stderr
    assert (f"optimality (minimize max_kvpr): reaches {np.mean(ratios):.3f} of the optimum on average "
            f"(worst {min(ratios):.3f}) on 3 tiny instances with proven optima ({out})") in stdout

    code, stdout, _ = run_cli("validate", "specs/placement.adrs", policy, "--optima", str(out), "--json")
    gap = json.loads(stdout)["optimality"]
    assert gap["instances"] == gap["valid"] == 3 and gap["mean_ratio"] == pytest.approx(np.mean(ratios), rel=1e-5)


def test_bad_optima_input_is_a_clear_error(tmp_path):
    code, _, stderr = run_cli("optima", "specs/placement.adrs", "--size", "gpu=2")
    assert code == 2 and "`gpu` is not an int param of `placement`" in stderr
    code, _, stderr = run_cli("optima", "specs/eplb.adrs", "--size", "layers=1,experts=6,replicas=7,gpus=4,nodes=2,groups=2")
    assert code == 2 and "--size layers=1, experts=6, replicas=7, gpus=4, nodes=2, groups=2: " in stderr
    assert "requirement `replicas % gpus == 0` does not hold" in stderr and "Traceback" not in stderr
    broken = tmp_path / "optima.json"
    broken.write_text("{not json")
    code, _, stderr = run_cli("validate", "specs/placement.adrs", "specs/placement/policies/greedy.py",
                              "--optima", str(broken))
    assert code == 2 and f"{broken}: not valid JSON" in stderr and "Traceback" not in stderr
    other = tmp_path / "other.json"
    other.write_text(open(os.path.join(ROOT, "specs/eplb/optima.json")).read())
    code, _, stderr = run_cli("validate", "specs/placement.adrs", "specs/placement/policies/greedy.py",
                              "--optima", str(other))
    assert code == 2 and "optima of spec `eplb`, not of `placement`" in stderr


def test_an_interrupted_optima_run_keeps_the_instances_it_finished(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "optima.json"
    proc = subprocess.Popen([sys.executable, "-m", "adrs_spec.cli", "optima", "specs/placement.adrs", "--size",
                             "gpus=3,models=6", "--instances", "20", "--out", str(out)], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    deadline = time.monotonic() + 180
    while not out.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    kept = json.loads(out.read_text())["instances"]
    assert 1 <= len(kept) < 20
    assert f"interrupted: {len(kept)} of 20 instances written to {out}" in stderr and "Traceback" not in stderr


def test_a_rerun_keeps_the_finished_instances_and_searches_only_the_rest(tmp_path, placement):
    out = tmp_path / "optima.json"
    args = ("optima", "specs/placement.adrs", "--size", "gpus=2,models=4", "--out", str(out))
    code, stdout, stderr = run_cli(*args, "--instances", "3")
    assert code == 0, stderr
    first = optima.read(str(out), placement)
    code, stdout, stderr = run_cli(*args, "--instances", "5")     # labels 0, 24, 49 are among the 5
    assert code == 0, stderr
    assert stdout.count(" kept\n") == 3 and "5 of 5 optima proven" in stdout
    second = optima.read(str(out), placement)
    by_label = {t.label: t for t in second.instances}
    assert [t.label for t in first.instances] == ["case 0", "case 24", "case 49"]
    for t in first.instances:                          # the same search result, not searched again
        kept = by_label[t.label]
        assert (kept.verdict, kept.value, kept.seconds) == (t.verdict, t.value, t.seconds)
        assert all(np.array_equal(kept.outputs[n], a) for n, a in t.outputs.items())


def _same(a: optima.TinyInstance, b: optima.TinyInstance) -> bool:
    return a.label == b.label and a.verdict == b.verdict and a.value == b.value


def test_a_bound_is_searched_again_only_with_more_time(placement):
    from dataclasses import replace

    size = {"gpus": 2, "models": 4}
    proven = optima.compute(placement, size, 2, 0, 60.0)
    bounds = replace(proven, instances=tuple(replace(t, verdict="UNKNOWN", timeout_s=1.0) for t in proven.instances))
    kept = []
    again = optima.compute(placement, size, 2, 0, 5.0, progress=lambda i, t, s, k: kept.append(k), previous=bounds)
    assert kept == [False, False] and [t.verdict for t in again.instances] == ["PROVED", "PROVED"]
    kept.clear()
    same = optima.compute(placement, size, 2, 0, 0.5, progress=lambda i, t, s, k: kept.append(k), previous=bounds)
    assert kept == [True, True] and all(_same(a, b) for a, b in zip(same.instances, bounds.instances))
    kept.clear()
    edited = replace(proven, spec_sha256="0" * 64)      # computed for another version of the spec
    optima.compute(placement, size, 2, 0, 60.0, progress=lambda i, t, s, k: kept.append(k), previous=edited)
    assert kept == [False, False]


def test_a_file_for_an_edited_spec_is_searched_again(tmp_path):
    out = tmp_path / "optima.json"
    args = ("optima", "specs/placement.adrs", "--size", "gpus=2,models=3", "--instances", "1", "--out", str(out))
    assert run_cli(*args)[0] == 0
    data = json.loads(out.read_text())
    data["spec_sha256"] = "0" * 64
    out.write_text(json.dumps(data))
    code, stdout, stderr = run_cli(*args)
    assert code == 0, stderr
    assert f"{out} was computed for another version of the spec: every instance is searched again" in stdout
    assert " kept" not in stdout and json.loads(out.read_text())["spec_sha256"] != "0" * 64


def test_a_file_of_another_run_is_replaced_only_with_force(tmp_path):
    out = tmp_path / "optima.json"
    code, _, stderr = run_cli("optima", "specs/placement.adrs", "--size", "gpus=2,models=4", "--instances", "2",
                              "--out", str(out))
    assert code == 0, stderr
    before = out.read_text()
    code, _, stderr = run_cli("optima", "specs/placement.adrs", "--size", "gpus=2,models=3", "--instances", "2",
                              "--out", str(out))
    assert code == 2 and out.read_text() == before
    assert (f"error: {out} already holds 2 proven optima of another run (gpus=2, models=4, memory=80.0; seed 0, "
            f"workload scenarios); give --out FILE to write elsewhere, or --force to replace it") in stderr
    code, _, stderr = run_cli("optima", "specs/placement.adrs", "--size", "gpus=2,models=4", "--instances", "2",
                              "--seed", "1", "--out", str(out))
    assert code == 2 and "another run (gpus=2, models=4, memory=80.0; seed 0" in stderr
    code, stdout, stderr = run_cli("optima", "specs/placement.adrs", "--size", "gpus=2,models=3", "--instances", "2",
                                   "--out", str(out), "--force")
    assert code == 0 and " kept" not in stdout
    assert json.loads(out.read_text())["params"]["models"] == 3
    out.write_text("{not json")
    code, _, stderr = run_cli("optima", "specs/placement.adrs", "--size", "gpus=2,models=3", "--out", str(out))
    assert code == 2 and f"{out} already holds something this command cannot reuse (not valid JSON" in stderr
    assert out.read_text() == "{not json"


def test_an_objective_z3_cannot_model_is_an_error_before_anything_is_written(tmp_path):
    out = tmp_path / "optima.json"
    code, stdout, stderr = run_cli("optima", "specs/txn_scheduling.adrs", "--size", "txns=3,ops=2,keys=2",
                                   "--instances", "1", "--out", str(out))
    assert code == 2 and not out.exists() and "Traceback" not in stderr
    assert ("specs/txn_scheduling.adrs: Z3 cannot compute the optimum of `minimize makespan`: `finish`, computed by "
            "a step block (state through a sequence), which the encoding does not unroll (line 37, column 1)") in stderr


def test_instances_searched_in_parallel_processes_give_the_same_optima_in_order(placement):
    from tests.sandbox.sandbox_cases import descendants

    before = descendants()
    size = {"gpus": 2, "models": 4}
    alone = optima.compute(placement, size, 4, 0, 60.0, workers=1)
    seen = []
    together = optima.compute(placement, size, 4, 0, 60.0, workers=2,
                              progress=lambda i, t, s, k: seen.append([u.label for u in s.instances]))
    assert [(t.label, t.verdict, t.value) for t in together.instances] == \
        [(t.label, t.verdict, t.value) for t in alone.instances]
    assert all(labels == sorted(labels, key=lambda x: int(x.split()[1])) for labels in seen)   # instance order
    assert [len(labels) for labels in seen] == [1, 2, 3, 4]
    assert descendants() == before                     # no process is left behind


def test_ctrl_c_during_a_parallel_search_kills_the_searching_processes(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from tests.sandbox.sandbox_cases import descendants

    out = tmp_path / "optima.json"
    proc = subprocess.Popen([sys.executable, "-m", "adrs_spec.cli", "optima", "specs/eplb.adrs", "--size",
                             "layers=1,experts=6,replicas=8,gpus=4,nodes=2,groups=2", "--workers", "2", "--out",
                             str(out)], cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(descendants(proc.pid)) < 2 and time.monotonic() < deadline:    # both searching
        time.sleep(0.05)
    searching = descendants(proc.pid)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr
    assert len(searching) >= 2 and not any(os.path.exists(f"/proc/{pid}") for pid in searching)
