"""Adapters: policies written to a public interface run through the spec's adapter file, in
the sandbox. The shipped Prism adapter of placement.adrs, and adapters that break."""
import os
import shutil

import pytest

from adrs_spec.errors import InputError, SpecError
from adrs_spec.compile import compile_file
from adrs_spec.validate_run import render_report, run_validation
from conftest import ROOT

ROUND_ROBIN = '''
def compute_model_placement(gpu_num, models):
    placement = {i: [] for i in range(gpu_num)}
    for i, model in enumerate(models):
        placement[i % gpu_num].append(model)
    return placement
'''


@pytest.fixture
def placement(tmp_path):
    """placement.adrs at 3 cases, with its adapter next to it."""
    text = open(os.path.join(ROOT, "specs/placement.adrs")).read()
    assert "cases 50" in text
    spec = tmp_path / "placement.adrs"
    spec.write_text(text.replace("cases 50", "cases 3"))
    (tmp_path / "placement").mkdir()
    shutil.copy(os.path.join(ROOT, "specs/placement/prism.py"), tmp_path / "placement" / "prism.py")
    return spec


def validate(spec, tmp_path, name: str, code: str):
    policy = tmp_path / f"{name}.py"
    policy.write_text(code)
    return run_validation(str(spec), str(policy), timeout=30)


def test_a_prism_policy_scores_as_the_native_policy_that_places_the_same(placement, tmp_path):
    public = validate(placement, tmp_path, "public_round_robin", ROUND_ROBIN)
    native = run_validation(str(placement), os.path.join(ROOT, "specs/placement/policies/round_robin.py"), timeout=30)
    assert public.verdict == native.verdict == "VALID"
    assert public.sets[0].interface == "prism" and native.sets[0].interface is None
    assert public.sets[0].metrics == native.sets[0].metrics
    assert "(run through the spec's adapter `prism`)" in render_report(public).splitlines()[1]


@pytest.mark.parametrize("name, body, message", [
    ("copies", "import copy\n" + ROUND_ROBIN.replace("append(model)", "append(copy.copy(model))"),
     "GPU 0 holds an object that is not one of the models given (Model); return the Model objects themselves"),
    ("twice", ROUND_ROBIN.replace("placement[i % gpu_num].append(model)",
                                  "placement[i % gpu_num].append(model)\n        placement[0].append(model)"),
     "model_0 is placed twice (on GPUs 0 and 0)"),
    ("missing", ROUND_ROBIN.replace("for i, model in enumerate(models):", "for i, model in enumerate(models[1:]):"),
     "models are not placed (model_0)"),
    ("a_list", "def compute_model_placement(gpu_num, models):\n    return [models]\n",
     "expected a dict GPU id -> list of models, got list"),
    ("named_gpus", "def compute_model_placement(gpu_num, models):\n    return {'gpu0': models}\n",
     "GPU id 'gpu0' is not an integer"),
])
def test_a_result_the_adapter_cannot_read_is_an_invalid_output_with_its_message(placement, tmp_path, name, body,
                                                                                   message):
    report = validate(placement, tmp_path, name, body)
    assert report.verdict == "INVALID"
    failure = report.sets[0].failure
    assert failure["kind"] == "bad_output"
    assert failure["message"].startswith("the `compute_model_placement` result does not fit the spec (adapter "
                                         "`prism`): ")
    assert message in failure["message"]


def test_gpu_ids_past_the_gpus_given_break_the_spec_invariant(placement, tmp_path):
    # The public evaluator counts only the GPUs in the dict, so a 10th GPU would pass there.
    body = ROUND_ROBIN.replace("placement = {i: [] for i in range(gpu_num)}",
                               "placement = {i: [] for i in range(gpu_num + 1)}").replace("i % gpu_num", "i % (gpu_num + 1)")
    report = validate(placement, tmp_path, "extra_gpu", body)
    assert report.verdict == "INVALID" and "gpu_in_range" in report.sets[0].violation_counts


def test_a_policy_crash_stays_the_policys_crash(placement, tmp_path):
    report = validate(placement, tmp_path, "raises",
                      "def compute_model_placement(gpu_num, models):\n    raise RuntimeError('no plan')\n")
    assert report.verdict == "ERROR"
    assert report.sets[0].failure["message"].startswith("RuntimeError: no plan")


def test_a_file_with_neither_function_names_both(placement, tmp_path):
    with pytest.raises(InputError) as caught:
        validate(placement, tmp_path, "neither", "def solve(models):\n    return {}\n")
    assert str(caught.value) == (f"{tmp_path / 'neither.py'} defines no function `place` or `compute_model_placement` "
                                 f"(the public interface of adapter `prism`); it defines: solve")


def broken_adapter(placement, source: str):
    (placement.parent / "placement" / "prism.py").write_text(source)


def test_an_adapter_that_raises_building_the_call_fails_the_policy_with_its_message(placement, tmp_path):
    broken_adapter(placement, 'FUNCTION = "compute_model_placement"\n\ndef inputs(size, req_rate, slo, gpus):\n'
                              '    raise KeyError("no models table")\n\ndef outputs(result, state):\n    return result\n')
    report = validate(placement, tmp_path, "public", ROUND_ROBIN)
    assert report.verdict == "ERROR"
    assert report.sets[0].failure["message"].startswith(
        "the adapter `prism` could not build the call to `compute_model_placement`: KeyError: 'no models table'")


def test_an_adapter_that_fails_to_load_is_an_input_error(placement, tmp_path):
    broken_adapter(placement, 'FUNCTION = "compute_model_placement"\nimport no_such_module\n\n'
                              'def inputs(size, req_rate, slo, gpus):\n    return (), None\n\n'
                              'def outputs(result, state):\n    return result\n')
    with pytest.raises(InputError) as caught:
        validate(placement, tmp_path, "public", ROUND_ROBIN)
    assert str(caught.value) == ("the adapter `prism` failed to load: ModuleNotFoundError: No module named "
                                 "'no_such_module'")


def test_a_missing_adapter_is_a_warning_and_the_policy_that_needs_it_says_so(placement, tmp_path):
    from adrs_spec.compile import compile_spec

    os.remove(placement.parent / "placement" / "prism.py")
    warnings = [w.render() for w in compile_spec(str(placement)).warnings]
    assert any("adapter `prism`: no such file placement/prism.py; policies written to its interface will not load"
               in w for w in warnings)
    native = run_validation(str(placement), os.path.join(ROOT, "specs/placement/policies/round_robin.py"), timeout=30)
    assert native.verdict == "VALID"
    with pytest.raises(InputError) as caught:
        validate(placement, tmp_path, "public", ROUND_ROBIN)
    assert str(caught.value) == (f"{tmp_path / 'public.py'} defines no function `place`; it defines: "
                                 f"compute_model_placement; the spec's adapter `prism` cannot be used (no such file "
                                 f"{tmp_path / 'placement' / 'prism.py'})")


@pytest.mark.parametrize("declared, source, message", [
    ('adapter "placement/prism.txt"', None, "an adapter is a Python file named like a module (`prism.py`), not "
                                            "`placement/prism.txt`"),
    ('adapter "placement/prism.py"', "def inputs(): pass\ndef outputs(r, s): pass\n",
     "must set FUNCTION to the public function's name"),
    ('adapter "placement/prism.py"', 'FUNCTION = "f"\ndef inputs(:\n', "placement/prism.py:2: syntax error: "),
    ('adapter "placement/prism.py"', 'FUNCTION = "f"\ndef inputs(): pass\n', "defines no function `outputs`"),
])
def test_an_unusable_adapter_is_a_located_spec_error(placement, declared, source, message):
    text = placement.read_text().replace('adapter "placement/prism.py"', declared)
    placement.write_text(text)
    if source is not None:
        broken_adapter(placement, source)
    with pytest.raises(SpecError) as caught:
        compile_file(str(placement))
    rendered = caught.value.render()
    assert message in rendered
    line = text[:text.index(declared)].count("\n") + 1
    assert rendered.startswith(f"{placement}:{line}:1: error: ")
