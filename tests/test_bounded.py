"""Outputs of data-dependent width (`<= bound` dimensions with a pad value): the padding
itself, the sandbox's conversion, both evaluators, and `validate` end to end on EPLB."""
import json
import os

import numpy as np
import pytest

from adrs_spec.bounded import fit_bounded
from adrs_spec.errors import InputError
from adrs_spec.sandbox import OutputSpec
from adrs_spec.sandbox.convert import BadOutput, check_outputs, returned_values
from conftest import ROOT, run_cli, small_eplb_text


# ------------------------------------------------------------------ the padding
def test_narrower_is_padded_and_wider_is_cut_when_only_pad_lies_past_the_bound():
    narrow, problem = fit_bounded(np.array([[1, 2], [3, -1]]), (2, 4), (1,), -1)
    assert problem is None and narrow.tolist() == [[1, 2, -1, -1], [3, -1, -1, -1]]
    wide, problem = fit_bounded(np.array([[1, -1, -1, -1, -1]]), (1, 3), (1,), -1)
    assert problem is None and wide.tolist() == [[1, -1, -1]]
    empty, problem = fit_bounded(np.zeros((2, 0), np.int64), (2, 2), (1,), 7)
    assert problem is None and empty.tolist() == [[7, 7], [7, 7]]


def test_a_non_pad_entry_past_the_bound_is_found_first_in_row_major_order():
    value = np.full((2, 3, 6), -1)
    value[1, 2, 5] = 4
    value[1, 0, 4] = 9
    _, problem = fit_bounded(value, (2, 3, 3), (2,), -1)
    assert problem == (2, 6, (1, 0, 4))


def test_two_bounded_axes_and_a_batch_axis():
    value = np.array([[[5]]])                       # batch of one, declared (<= 2, <= 3)
    fitted, problem = fit_bounded(value, (2, 3), (0, 1), 0, batch_axes=1)
    assert problem is None and fitted.tolist() == [[[5, 0, 0], [0, 0, 0]]]


# ------------------------------------------------------------------ the sandbox's conversion
SLOTS = OutputSpec("slots", "int", (2, 4), bounded=(1,), pad=-1, bound_names=("max_copies",))


def convert(value):
    return check_outputs(returned_values((value,), [SLOTS]), [SLOTS])[0]


def test_conversion_pads_a_narrow_float_array_after_checking_it_holds_integers():
    out = convert(np.array([[0.0], [3.0]]))
    assert out.dtype == np.int64 and out.tolist() == [[0, -1, -1, -1], [3, -1, -1, -1]]


@pytest.mark.parametrize("value, message", [
    (np.array([[0, -1, -1, -1, -1, 5], [1, -1, -1, -1, -1, -1]]),
     "output 1 `slots` has width 6 in dimension 2, past its bound `<= max_copies = 4`, and a value other than the "
     "pad value -1 there (5 at [0, 5]); entries past the bound must be -1"),
    (np.zeros((3, 2)), "output 1 `slots` has shape (3, 4); the spec expects (2, <= 4)"),
    (np.zeros(2), "output 1 `slots` has shape (2,); the spec expects (2, <= 4)"),
    (np.array([[0.5], [1.0]]), "output 1 `slots` has dtype float64 with non-integral values (e.g. 0.5 at [0, 0])"),
])
def test_conversion_rejects_with_the_bound_and_the_first_offending_index(value, message):
    with pytest.raises(BadOutput) as caught:
        convert(value)
    assert str(caught.value).startswith(message)


def test_a_wide_value_is_cut_to_the_bound():
    assert convert(np.array([[2, -1, -1, -1, -1], [0, 1, -1, -1, -1]])).tolist() == [[2, -1, -1, -1], [0, 1, -1, -1]]


# ------------------------------------------------------------------ both evaluators, small EPLB
@pytest.fixture(scope="module")
def small_spec(tmp_path_factory):
    from adrs_spec.compile import compile_file

    path = tmp_path_factory.mktemp("bounded") / "eplb_small.adrs"
    path.write_text(small_eplb_text())
    return compile_file(str(path))


def round_robin_outputs(width: int | None):
    """The shipped round-robin baseline on 3 layers of 16 experts in 24 slots (logcnt.max() = 2),
    its log2phy cut to `width` columns (None: as returned, 9 columns)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("rr", os.path.join(ROOT, "specs/eplb/policies/round_robin.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    weight = np.arange(48, dtype=np.float64).reshape(3, 16)
    phy2log, log2phy, logcnt = module.rebalance_experts(weight, 24, 4, 2, 4)
    if width is not None:
        log2phy = log2phy[:, :, :width]
    return {"weight": weight, "next": weight[::-1].copy()}, {"phy2log": phy2log, "log2phy": log2phy, "logcnt": logcnt}


def both_backends(spec, instance, output):
    from adrs_spec.backends.reference.instance import evaluate_instance
    from adrs_spec.evaluator import Evaluator, compile_in_memory
    from adrs_spec.lang.statics import bind

    reference = evaluate_instance(spec, bind(spec, {}), {**instance, **output})
    generated = Evaluator(spec, compile_in_memory(spec), dtype="float64").evaluate_batch({}, [instance], [output])[0]
    ref = ({g.name: (g.passed, g.witness) for g in reference.guards}, reference.metrics)
    gen = ({g.name: (g.passed, g.witness) for g in generated.guards}, generated.metrics)
    return ref, gen


def test_the_logcnt_max_width_scores_as_its_padded_form_in_both_backends(small_spec):
    padded = both_backends(small_spec, *round_robin_outputs(None))
    narrow = both_backends(small_spec, *round_robin_outputs(2))
    wide_instance, wide_output = round_robin_outputs(None)
    wide_output["log2phy"] = np.concatenate([wide_output["log2phy"], np.full((3, 16, 4), -1)], axis=2)
    wide = both_backends(small_spec, wide_instance, wide_output)
    assert narrow == padded == wide
    reference, generated = padded
    assert all(passed for passed, _ in reference[0].values())
    assert reference[1]["balance"] == pytest.approx(generated[1]["balance"], rel=1e-12)


def test_a_width_1_log2phy_listing_only_the_first_replica_stays_invalid(small_spec):
    reference, generated = both_backends(small_spec, *round_robin_outputs(1))
    assert reference[0] == generated[0]
    failed = {name for name, (passed, _) in reference[0].items() if not passed}
    # Expert 0 has 2 replicas: its second rank is the pad, -1, out of the slot range.
    assert "replica_slots_in_range" in failed and reference[0]["replica_slots_in_range"][1] == (0, 0, 1)


def test_a_non_pad_entry_past_the_bound_is_an_input_error_in_both_backends(small_spec):
    from adrs_spec.backends.reference.instance import evaluate_instance
    from adrs_spec.evaluator import Evaluator, compile_in_memory
    from adrs_spec.lang.statics import bind

    instance, output = round_robin_outputs(None)
    output["log2phy"] = np.concatenate([output["log2phy"], np.full((3, 16, 2), -1)], axis=2)
    output["log2phy"][2, 5, 10] = 3
    message = ("`log2phy` has width 11 in dimension 3, past its bound `<= max_copies = 9`, and a value other than "
               "the pad value -1 there (3 at [2, 5, 10]); entries past the bound must be -1")
    with pytest.raises(InputError) as caught:
        evaluate_instance(small_spec, bind(small_spec, {}), {**instance, **output})
    assert str(caught.value) == message
    with pytest.raises(InputError) as caught:
        Evaluator(small_spec, compile_in_memory(small_spec), dtype="float64").evaluate_batch({}, [instance], [output])
    assert str(caught.value) == "outputs: instance 0: " + message


# ------------------------------------------------------------------ validate, end to end
NARROW_POLICY = '''
import numpy as np


def rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus):
    layers, experts = weight.shape
    order = np.argsort(-weight, axis=1, kind="stable")
    logcnt = np.ones((layers, experts), dtype=np.int64)
    for extra in range(num_replicas - experts):       # one more replica for the hottest per copy
        e = order[:, extra % experts]
        logcnt[np.arange(layers), e] += 1
    width = int(logcnt.max()) if WIDTH is None else WIDTH
    phy2log = np.stack([np.repeat(np.arange(experts), row) for row in logcnt])
    first = np.concatenate([np.zeros((layers, 1), np.int64), np.cumsum(logcnt, axis=1)[:, :-1]], axis=1)
    rank = np.arange(width)
    log2phy = np.where(rank < logcnt[:, :, None], first[:, :, None] + rank, -1)
    if EXTRA is not None:
        log2phy = np.concatenate([log2phy, np.full((layers, experts, 12), -1)], axis=2)
        log2phy[0, 0, -1] = EXTRA
    return phy2log, log2phy, logcnt
'''


def validate_json(tmp_path, spec, name: str, width=None, extra=None) -> dict:
    policy = tmp_path / f"{name}.py"
    policy.write_text(f"WIDTH = {width!r}\nEXTRA = {extra!r}\n" + NARROW_POLICY)
    code, out, err = run_cli("validate", str(spec), str(policy), "--json", cwd=tmp_path)
    assert code in (0, 1), err
    return json.loads(out)


def test_validate_accepts_the_public_widths_with_the_padded_metrics(small_eplb, tmp_path):
    narrow = validate_json(tmp_path, small_eplb, "narrow")
    padded = validate_json(tmp_path, small_eplb, "padded", width=9)
    assert narrow["verdict"] == padded["verdict"] == "VALID"
    assert narrow["sets"][0]["metrics"] == padded["sets"][0]["metrics"]
    first_only = validate_json(tmp_path, small_eplb, "first_only", width=1)
    assert first_only["verdict"] == "INVALID"
    assert "replica_slots_in_range" in first_only["sets"][0]["violation_counts"]
    wide = validate_json(tmp_path, small_eplb, "wide", extra=7)
    assert wide["verdict"] == "INVALID"
    assert wide["sets"][0]["failure"]["message"] == (
        "output 2 `log2phy` has width 14 in dimension 3, past its bound `<= max_copies = 9`, and a value other "
        "than the pad value -1 there (7 at [0, 0, 13]); entries past the bound must be -1")
