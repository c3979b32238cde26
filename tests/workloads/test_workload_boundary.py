"""Extreme variants of an instance for the `auto_boundary` holdout."""
import numpy as np

from adrs_spec.workloads.boundary import HUGE_TOTAL, TINY_TOTAL, boundary_cases

NAMES = {"one_hot_expert", "empty_layer", "exact_ties", "tiny_tokens", "huge_tokens"}


def eplb_instance():
    weight = np.array([[5.0, 9.0, 1.0, 0.0], [2.0, 2.0, 8.0, 3.0], [0.0, 0.0, 0.0, 0.0]])
    nxt = np.array([[4.0, 7.0, 2.0, 1.0], [1.0, 3.0, 9.0, 2.0], [1.0, 0.0, 5.0, 0.0]])
    return {"weight": weight, "next": nxt, "ids": np.array([3, 1, 2], dtype=np.int64)}


def test_variants_keep_keys_shapes_dtypes_and_other_fields():
    inst = eplb_instance()
    cases = boundary_cases(inst, ["weight", "next"])
    assert set(cases) == NAMES
    for variant in cases.values():
        assert set(variant) == set(inst)
        for k, v in variant.items():
            assert v.shape == inst[k].shape and v.dtype == inst[k].dtype
        assert np.array_equal(variant["ids"], inst["ids"])


def test_one_hot_expert():
    v = boundary_cases(eplb_instance(), ["weight", "next"])["one_hot_expert"]
    # each row's total on its hottest expert; an empty row gets the mean row total (10) on expert 0
    assert np.array_equal(v["weight"], [[0, 15, 0, 0], [0, 0, 15, 0], [10, 0, 0, 0]])
    assert np.array_equal(v["next"], [[0, 14, 0, 0], [0, 0, 15, 0], [0, 0, 6, 0]])


def test_empty_layer():
    inst = eplb_instance()
    v = boundary_cases(inst, ["weight", "next"])["empty_layer"]
    assert (v["weight"][0] == 0).all() and (v["next"][0] == 0).all()
    assert np.array_equal(v["weight"][1:], inst["weight"][1:])
    assert np.array_equal(v["next"][1:], inst["next"][1:])


def test_exact_ties():
    v = boundary_cases(eplb_instance(), ["weight", "next"])["exact_ties"]
    assert np.array_equal(v["weight"], np.full((3, 4), 2.0))      # mean entry 30 / 12 = 2.5, rounded to even
    assert np.array_equal(v["next"], np.full((3, 4), 3.0))        # mean entry 35 / 12 = 2.92


def test_exact_ties_of_an_empty_field_is_one():
    v = boundary_cases({"x": np.zeros((2, 3))}, ["x"])["exact_ties"]
    assert np.array_equal(v["x"], np.ones((2, 3)))


def test_tiny_tokens():
    v = boundary_cases(eplb_instance(), ["weight", "next"])["tiny_tokens"]
    assert np.array_equal(v["weight"], [[1, 1, 1, 0], [1, 0, 1, 1], [1, 1, 1, 0]])
    assert (v["next"].sum(axis=-1) == TINY_TOTAL).all()


def test_tiny_tokens_with_fewer_experts_than_tokens():
    v = boundary_cases({"x": np.array([[1.0, 4.0]])}, ["x"])["tiny_tokens"]
    assert np.array_equal(v["x"], [[1.0, 2.0]])


def test_huge_tokens():
    inst = eplb_instance()
    v = boundary_cases(inst, ["weight", "next"])["huge_tokens"]
    for k in ("weight", "next"):
        assert (v[k].sum(axis=-1) == HUGE_TOTAL).all()            # whole tokens, exact totals
        assert np.array_equal(v[k], np.round(v[k]))
    share = inst["weight"][:2] / inst["weight"][:2].sum(axis=-1, keepdims=True)
    assert np.abs(v["weight"][:2] - share * HUGE_TOTAL).max() <= 2.0
    assert np.array_equal(v["weight"][2], np.full(4, HUGE_TOTAL / 4))    # an empty row splits evenly


def test_rank_one_fields_and_positive_fields():
    inst = {"size": np.array([10.0, 20.0, 15.0]), "slo": np.array([5.0, 7.0, 9.0])}
    cases = boundary_cases(inst, ["size", "slo"], positive=["slo"])
    assert np.array_equal(cases["one_hot_expert"]["size"], [0.0, 45.0, 0.0])
    assert np.array_equal(cases["empty_layer"]["size"], [0.0, 0.0, 0.0])
    assert np.array_equal(cases["tiny_tokens"]["size"], [1.0, 1.0, 1.0])
    assert np.array_equal(cases["exact_ties"]["size"], [15.0, 15.0, 15.0])
    # slo must stay > 0: only the variants that keep it positive change it
    for name in ("one_hot_expert", "empty_layer", "tiny_tokens"):
        assert np.array_equal(cases[name]["slo"], inst["slo"])
    assert np.array_equal(cases["exact_ties"]["slo"], [7.0, 7.0, 7.0])
    assert (cases["huge_tokens"]["slo"] > 0).all() and cases["huge_tokens"]["slo"].sum() == HUGE_TOTAL


def test_deterministic_and_input_untouched():
    inst = eplb_instance()
    before = {k: v.copy() for k, v in inst.items()}
    a, b = boundary_cases(inst, ["weight", "next"]), boundary_cases(inst, ["weight", "next"])
    for name in NAMES:
        for k in inst:
            assert np.array_equal(a[name][k], b[name][k])
            assert np.array_equal(inst[k], before[k])
