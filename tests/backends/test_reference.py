"""The reference interpreter and scoring: hand-computed outcomes for every construct."""
import math
import os

import numpy as np
import pytest

from adrs_spec.lang import scoring
from adrs_spec.backends.reference import ops
from adrs_spec.backends.reference.instance import evaluate_instance
from adrs_spec.errors import InputError, Source
from adrs_spec.compile import check_source, compile_file
from adrs_spec.lang.statics import bind

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INT64_MIN, INT64_MAX = -2 ** 63, 2 ** 63 - 1
f = np.float64


def spec_of(text: str):
    return check_source(Source("t.adrs", text))


def run(text: str, params=None, **data):
    spec = spec_of(text)
    return evaluate_instance(spec, bind(spec, params), data)


def is_nan(x) -> bool:
    return isinstance(x, float) and math.isnan(x)


# ---- scalar operators ----
@pytest.mark.parametrize("op, a, b, want", [
    ("+", 7, -2, 5), ("-", 7, -2, 9), ("*", 7, -2, -14),
    ("//", 7, 2, 3), ("//", -7, 2, -4), ("//", 7, -2, -4), ("//", -7, -2, 3),
    ("%", 7, 2, 1), ("%", -7, 2, 1), ("%", 7, -2, -1), ("%", -7, -2, -1),
    ("//", 5, 0, 0), ("%", 5, 0, 0), ("//", -5, 0, 0),
    ("**", 2, 10, 1024), ("**", -3, 3, -27), ("**", 2, -1, 0), ("**", 1, -5, 1),
    ("**", -1, -3, -1), ("**", -1, -2, 1), ("**", 0, -1, 0), ("**", 0, 0, 1),
])
def test_int_arithmetic(op, a, b, want):
    got = ops.binary(op, a, b, "int", 1e-4)
    assert type(got) is int and got == want


def test_int_power_beyond_64_bits_is_an_input_error():
    with pytest.raises(InputError, match="does not fit in 64 bits"):
        ops.binary("**", 2, 64, "int", 1e-4)
    with pytest.raises(InputError, match="does not fit in 64 bits"):
        ops.binary("**", 3, 40, "int", 1e-4)
    assert ops.binary("**", 2, 62, "int", 1e-4) == 2 ** 62


@pytest.mark.parametrize("a, b, want", [
    (7.0, 2.0, 3.5), (1.0, 0.0, math.inf), (-1.0, 0.0, -math.inf), (1.0, -0.0, -math.inf),
    (0.0, 0.0, math.nan), (math.nan, 0.0, math.nan), (math.inf, math.inf, math.nan),
])
def test_float_division_is_ieee(a, b, want):
    with np.errstate(all="ignore"):
        got = ops.binary("/", f(a), f(b), "float", 1e-4)
    assert isinstance(got, np.float64)
    assert (math.isnan(got) and math.isnan(want)) or got == want


def test_float_arithmetic_never_raises():
    with np.errstate(all="ignore"):
        assert ops.binary("**", f(2.0), f(-1.0), "float", 1e-4) == 0.5
        assert math.isnan(ops.binary("**", f(-8.0), f(1 / 3), "float", 1e-4))
        assert ops.binary("**", f(0.0), f(-1.0), "float", 1e-4) == math.inf
        assert ops.binary("**", f(10.0), f(400.0), "float", 1e-4) == math.inf
        assert ops.binary("*", f(1e308), f(10.0), "float", 1e-4) == math.inf
        assert ops.binary("-", f(1.5), f(0.25), "float", 1e-4) == 1.25


@pytest.mark.parametrize("op, a, b, want", [
    ("==", 2, 2, True), ("==", 2, 3, False), ("!=", 2, 3, True), ("!=", 2, 2, False),
    ("<", 2, 3, True), ("<", 3, 3, False), ("<=", 3, 3, True), ("<=", 4, 3, False),
    (">", 4, 3, True), (">", 3, 3, False), (">=", 3, 3, True), (">=", 2, 3, False),
])
def test_comparisons(op, a, b, want):
    assert ops.binary(op, a, b, "bool", 1e-4) is want
    assert ops.binary(op, f(a), f(b), "bool", 1e-4) is want     # numpy bools become Python bools


def test_comparisons_with_nan_are_false_except_not_equal():
    for op in ("==", "<", "<=", ">", ">=", "~="):
        assert ops.binary(op, f(math.nan), f(1.0), "bool", 0.25) is False
    assert ops.binary("!=", f(math.nan), f(math.nan), "bool", 0.25) is True


@pytest.mark.parametrize("a, b, want", [
    (3.0, 4.0, True),             # |1| <= 0.25 * 4, exactly at the edge
    (3.0, 4.0000001, False),      # just past it
    (-3.0, -4.0, True),
    (0.0, 0.25, True),            # below 1 the scale is 1: |0.25| <= 0.25
    (0.0, 0.2500001, False),
    (1e9, 1.2e9, True), (1e9, 1.4e9, False),
    (math.inf, math.inf, False),  # inf - inf is nan
    (1.0, math.inf, True),        # the formula: inf <= 0.25 * inf
])
def test_approx_equal_at_the_tolerance_edge(a, b, want):
    with np.errstate(all="ignore"):
        assert ops.binary("~=", f(a), f(b), "bool", 0.25) is want


@pytest.mark.parametrize("op, table", [
    ("and", (False, False, False, True)),
    ("or", (False, True, True, True)),
    ("implies", (True, True, False, True)),
])
def test_logic(op, table):
    pairs = ((False, False), (False, True), (True, False), (True, True))
    assert tuple(ops.binary(op, a, b, "bool", 1e-4) for a, b in pairs) == table
    assert ops.unary("not", True) is False and ops.unary("-", 3) == -3


@pytest.mark.parametrize("fn, args, dtype, want", [
    ("abs", (-3,), "int", 3), ("abs", (f(-2.5),), "float", 2.5),
    ("sqrt", (f(6.25),), "float", 2.5), ("sqrt", (f(-1.0),), "float", math.nan),
    ("exp", (f(0.0),), "float", 1.0), ("exp", (f(1000.0),), "float", math.inf),
    ("log", (f(1.0),), "float", 0.0), ("log", (f(0.0),), "float", -math.inf),
    ("log", (f(-1.0),), "float", math.nan),
    ("floor", (f(-2.5),), "int", -3), ("ceil", (f(-2.5),), "int", -2), ("int", (f(-2.7),), "int", -2),
    ("int", (f(2.7),), "int", 2), ("floor", (7,), "int", 7),
    ("int", (f(math.nan),), "int", 0), ("int", (f(math.inf),), "int", INT64_MAX),
    ("floor", (f(-math.inf),), "int", INT64_MIN), ("ceil", (f(1e300),), "int", INT64_MAX),
    ("float", (3,), "float", 3.0),
    ("min", (3, -4), "int", -4), ("max", (3, -4), "int", 3),
    ("min", (f(1.0), f(math.nan)), "float", math.nan), ("max", (f(math.nan), f(1.0)), "float", math.nan),
    ("clip", (5, 0, 3), "int", 3), ("clip", (-1, 0, 3), "int", 0), ("clip", (2, 0, 3), "int", 2),
    ("clip", (f(0.5), f(math.nan), f(1.0)), "float", math.nan),
])
def test_functions(fn, args, dtype, want):
    with np.errstate(all="ignore"):
        got = ops.call(fn, args, dtype)
    assert type(got) is (np.float64 if dtype == "float" else int)
    assert (math.isnan(got) and math.isnan(want)) or got == want


def test_reductions_of_nothing():
    assert ops.reduce_values("sum", [], "float") == 0.0 and ops.reduce_values("sum", [], "int") == 0
    assert ops.reduce_values("count", [], "bool") == 0
    assert ops.reduce_values("prod", [], "float") == 1.0 and ops.reduce_values("prod", [], "int") == 1
    assert ops.reduce_values("all", [], "bool") is True and ops.reduce_values("any", [], "bool") is False
    assert ops.reduce_values("max", [], "float") == -math.inf and ops.reduce_values("min", [], "float") == math.inf
    assert ops.reduce_values("max", [], "int") == INT64_MIN and ops.reduce_values("min", [], "int") == INT64_MAX
    assert math.isnan(ops.reduce_values("mean", [], "float"))


def test_float_sums_are_correctly_rounded_and_nan_wins_max():
    assert ops.reduce_values("sum", [f(1e16), f(1.0), f(-1e16)], "float") == 1.0
    assert ops.reduce_values("sum", [f(math.inf), f(1.0)], "float") == math.inf
    with np.errstate(all="ignore"):
        assert math.isnan(ops.reduce_values("sum", [f(math.inf), f(-math.inf)], "float"))
    assert math.isnan(ops.reduce_values("max", [f(1.0), f(math.nan), f(3.0)], "float"))
    assert math.isnan(ops.reduce_values("min", [f(1.0), f(math.nan)], "float"))


# ---- specs: operators, clamping, reductions, ranges, lets ----
TOY = """spec toy "toy"
param n: int = 4
param m: int = 1 in 0 .. 5
instance {
  observe x: float[n]
  observe k: int[n]
}
policy f(x, k) -> y: int[n]
invariant y_positive: forall i: y[i] > 0
"""
X = np.array([0.5, 2.0, 3.0, -1.0])
K = np.array([3, -2, 5, 0])
Y = np.array([1, 1, 1, 1])


def toy(extra: str, params=None, x=X, k=K, y=Y):
    return run(TOY + extra, params, x=x, k=k, y=y)


def test_operators_through_a_spec():
    res = toy("""
let fdiv = k[2] // k[1]
let fmod = k[2] % k[1]
let zdiv = k[0] // k[3]
let ratio = x[1] / x[3]
let inf_ratio = x[1] / float(k[3])
let power = k[2] ** 2
let pick = if x[0] < x[1] then k[0] else k[1]
let both = x[0] > 0.0 and k[1] > 0
""")
    lets = {name: value[()] for name, value in res.lets.items()}
    assert lets == {"fdiv": -3, "fmod": -1, "zdiv": 0, "ratio": -2.0, "inf_ratio": math.inf, "power": 25,
                    "pick": 3, "both": False}
    assert res.lets["fdiv"].dtype == np.int64 and res.lets["ratio"].dtype == np.float64
    assert res.lets["both"].dtype == np.bool_


def test_spec_tolerance_is_used():
    text = "tolerance 0.25\nlet close = x[0] ~= x[1]\n"
    assert toy(text, x=np.array([3.0, 4.0, 0.0, 0.0])).lets["close"][()] == True  # noqa: E712
    assert toy(text, x=np.array([3.0, 4.5, 0.0, 0.0])).lets["close"][()] == False  # noqa: E712


def test_out_of_range_reads_clamp_without_wrapping():
    res = toy("""
let left[i in 0 .. n] = x[i - 2]
let right[i in 0 .. n] = x[i + 2]
let far_below = x[-7]
let far_above = x[100]
let via_data[i in 0 .. n] = x[k[i]]
""", x=np.array([10.0, 20.0, 30.0, 40.0]))
    assert res.lets["left"].tolist() == [10.0, 10.0, 10.0, 20.0]
    assert res.lets["right"].tolist() == [30.0, 40.0, 40.0, 40.0]
    assert res.lets["far_below"][()] == 10.0 and res.lets["far_above"][()] == 40.0
    assert res.lets["via_data"].tolist() == [40.0, 10.0, 40.0, 10.0]       # k = 3, -2, 5, 0


def test_every_reduction_with_and_without_where():
    res = toy("""
let sum_all = sum(i: x[i])
let sum_where = sum(i where x[i] > 1.0: x[i])
let sum_none = sum(i where x[i] > 100.0: x[i])
let isum = sum(i: k[i])
let isum_none = sum(i where k[i] > 100: k[i])
let count_all = count(i: k[i] > 0)
let count_where = count(i where x[i] > 1.0: k[i] > 0)
let count_none = count(i where x[i] > 100.0: k[i] > 0)
let prod_all = prod(i: x[i])
let prod_none = prod(i where x[i] > 100.0: x[i])
let iprod = prod(i where k[i] != 0: k[i])
let all_true = all(i: x[i] > -2.0)
let all_false = all(i: x[i] > 0.0)
let all_none = all(i where x[i] > 100.0: x[i] < 0.0)
let any_true = any(i: k[i] == 5)
let any_none = any(i where x[i] > 100.0: x[i] > 0.0)
let forall_q = forall i: k[i] < 6
let exists_q = exists i: k[i] < -1
let max_all = max(i: x[i])
let min_all = min(i: x[i])
let max_none = max(i where x[i] > 100.0: x[i])
let min_none = min(i where x[i] > 100.0: x[i])
let imax = max(i: k[i])
let imin_where = min(i where k[i] > 0: k[i])
let imax_none = max(i where k[i] > 100: k[i])
let imin_none = min(i where k[i] > 100: k[i])
let mean_all = mean(i: x[i])
let mean_where = mean(i where x[i] > 1.0: x[i])
let imean = mean(i: k[i])
let mean_none = mean(i where x[i] > 100.0: x[i])
""")
    got = {name: value[()].item() for name, value in res.lets.items()}
    assert is_nan(got.pop("mean_none"))
    assert got == {
        "sum_all": 4.5, "sum_where": 5.0, "sum_none": 0.0, "isum": 6, "isum_none": 0,
        "count_all": 2, "count_where": 1, "count_none": 0,
        "prod_all": -3.0, "prod_none": 1.0, "iprod": -30,
        "all_true": True, "all_false": False, "all_none": True, "any_true": True, "any_none": False,
        "forall_q": True, "exists_q": True,
        "max_all": 3.0, "min_all": -1.0, "max_none": -math.inf, "min_none": math.inf,
        "imax": 5, "imin_where": 3, "imax_none": INT64_MIN, "imin_none": INT64_MAX,
        "mean_all": 1.125, "mean_where": 2.5, "imean": 1.5,
    }


def test_dependent_ranges():
    text = """spec blocks "blocks"
param groups: int = 2
param slots: int = 3
let n = groups * slots
instance {
  observe x: float[n]
}
policy f(x) -> y: int[n]
invariant ordered: forall i, j in i + 1 .. n: y[i] <= y[j]
let block[g in 0 .. groups] = sum(p in g * slots .. (g + 1) * slots: x[p])
let rising_pairs = count(i, j in i + 1 .. n: x[i] < x[j])
let below_diagonal = sum(i in 0 .. n, j in 0 .. i: 1)
let late_start = sum(i in 0 .. n, j in i * 2 .. n: x[j])
"""
    x = np.array([1.0, 5.0, 2.0, 7.0, 3.0, 3.0])
    res = run(text, x=x, y=np.array([0, 3, 1, 2, 4, 5]))
    assert res.lets["block"].tolist() == [8.0, 13.0]
    assert res.lets["rising_pairs"][()] == 5 + 1 + 3      # from 1, from 5, from 2
    assert res.lets["below_diagonal"][()] == 0 + 1 + 2 + 3 + 4 + 5
    # i = 0: all 21; i = 1: x[2:] = 15; i = 2: x[4:] = 6; i >= 3: empty
    assert res.lets["late_start"][()] == 21.0 + 15.0 + 6.0
    # first violation of y[i] <= y[j] in row-major order: (1, 2) (3 > 1), before (1, 3)
    assert res.guards[0].witness == (1, 2)


def test_nested_lets_in_dependency_order():
    res = toy("""
let d[i in 0 .. n] = b[i] / c
let c = sum(i: b[i])
let b[i in 0 .. n] = a[i] + a[n - 1 - i]
let a[i in 0 .. n] = x[i] * 2.0
""", x=np.array([1.0, 2.0, 3.0, 4.0]))
    assert res.lets["a"].tolist() == [2.0, 4.0, 6.0, 8.0]
    assert res.lets["b"].tolist() == [10.0, 10.0, 10.0, 10.0]
    assert res.lets["c"].shape == () and res.lets["c"][()] == 40.0
    assert res.lets["d"].tolist() == [0.25] * 4


def test_witness_is_the_first_violation_in_row_major_order():
    text = """spec grid "grid"
param rows: int = 2
param cols: int = 3
instance {
  observe w: float[rows, cols]
}
policy f(w) -> z: int[rows, cols]
invariant nonzero: forall a, b: z[a, b] != 0
invariant small: forall a, b: z[a, b] < 10
"""
    z = np.array([[1, 2, 0], [0, 5, 6]])
    res = run(text, w=np.zeros((2, 3)), z=z)
    assert res.guards[0].name == "nonzero" and res.guards[0].witness == (0, 2)
    assert res.guards[1].passed and res.guards[1].witness is None
    assert not res.passed


def test_an_invariant_over_an_empty_domain_holds():
    res = toy("invariant few: forall i in 0 .. m: y[i] > 5\n", params={"m": 0})
    assert res.guard("few").passed
    res = toy("invariant few: forall i in 0 .. m: y[i] > 5\n", params={"m": 2})
    assert res.guard("few").witness == (0,)


def test_metrics_and_bounds():
    res = toy("""
metric total = sum(i: x[i])
metric positives = count(i: k[i] > 0) aggregate max
bound total <= 4.0
bound positives >= 2
bound positives * runtime(f) < 1
""")
    assert res.metrics == {"total": 4.5, "positives": 2.0}
    assert all(type(v) is float for v in res.metrics.values())
    assert res.bounds == (False, True, True)      # the runtime bound is skipped per instance


def test_bad_data_is_an_input_error():
    spec = spec_of(TOY)
    env = bind(spec)
    with pytest.raises(InputError, match="missing tensor.*y"):
        evaluate_instance(spec, env, {"x": X, "k": K})
    with pytest.raises(InputError, match=r"`x` has shape \(3,\), but the spec declares \(4,\)"):
        evaluate_instance(spec, env, {"x": X[:3], "k": K, "y": Y})
    with pytest.raises(InputError, match="unknown tensor.*z"):
        evaluate_instance(spec, env, {"x": X, "k": K, "y": Y, "z": Y})
    with pytest.raises(InputError, match="`y` must hold integers"):
        evaluate_instance(spec, env, {"x": X, "k": K, "y": np.array([1.0, 1.5, 1.0, 1.0])})
    ok = evaluate_instance(spec, env, {"x": X, "k": K, "y": np.array([1.0, 2.0, 1.0, 1.0])})
    assert ok.passed


# ---- scoring ----
AGG = TOY + """
metric a = x[0]
metric b = x[0] aggregate min
metric c = x[0] aggregate max
metric d = x[0] aggregate sum
"""


def test_aggregates():
    spec = spec_of(AGG)
    rows = [{"a": v, "b": v, "c": v, "d": v} for v in (0.5, 2.0, -1.0)]
    assert scoring.aggregate(spec, rows) == {"a": 0.5, "b": -1.0, "c": 2.0, "d": 1.5}
    nan_rows = rows + [{"a": math.nan, "b": math.nan, "c": math.nan, "d": math.nan}]
    assert all(math.isnan(v) for v in scoring.aggregate(spec, nan_rows).values())
    empty = scoring.aggregate(spec, [])
    assert math.isnan(empty["a"]) and empty["b"] == math.inf and empty["c"] == -math.inf and empty["d"] == 0.0
    with pytest.raises(InputError, match="instance 1 has no value for metric `a`"):
        scoring.aggregate(spec, [rows[0], {"b": 1.0}])


def test_score_needs_a_score_and_runtime_when_it_reads_one():
    spec = spec_of(TOY + "metric a = x[0]\nobjective maximize a\n")
    assert scoring.evaluate_score(spec, {"a": 1.0}, 0.1) is None
    assert scoring.evaluate_objectives(spec, {"a": 1.0}, None) == [("maximize", 1.0)]
    spec = spec_of(TOY + "param scale: float = 2.0\nmetric a = x[0]\nscore scale * a\n")
    assert scoring.evaluate_score(spec, {"a": 1.5}, None) == 3.0           # statics at the defaults
    assert scoring.evaluate_score(spec, {"a": 1.5}, None, env={**bind(spec), "scale": 4.0}) == 6.0


def eplb_spec():
    return compile_file(os.path.join(ROOT, "specs/eplb.adrs"))


def test_eplb_leaderboard_score_by_hand():
    spec = eplb_spec()
    # t = 0.001 s: 90 * 0.75 + 5 * min(0.002 / 0.001, 2) - 0 = 67.5 + 10
    assert scoring.evaluate_score(spec, {"balance": 0.75}, 0.001) == 77.5
    # t = 0.02 s: 90 * 0.75 + 5 * min(0.1, 2) - min(20 * 0.02, 20) = 67.5 + 0.5 - 0.4
    assert scoring.evaluate_score(spec, {"balance": 0.75}, 0.02) == pytest.approx(67.6, abs=1e-12)
    # t = 2 s: the penalty is capped at 20: 67.5 + 5 * 0.001 - 20
    assert scoring.evaluate_score(spec, {"balance": 0.75}, 2.0) == pytest.approx(47.505, abs=1e-12)
    # t = 0: 0.002 / 0 is inf, capped at 2
    assert scoring.evaluate_score(spec, {"balance": 0.75}, 0.0) == 77.5
    assert scoring.evaluate_score(spec, {"balance": 0.75}, None) is None
    assert scoring.evaluate_objectives(spec, {"balance": 0.75}, 0.02) == [("maximize", 0.75), ("minimize", 0.02)]
    assert scoring.evaluate_objectives(spec, {"balance": 0.75}, None) == [("maximize", 0.75), ("minimize", None)]
    assert scoring.aggregate(spec, [{"balance": 0.5}, {"balance": 1.0}]) == {"balance": 0.75}
    assert [ok for _, ok in scoring.check_bounds(spec, {"balance": 1.0}, None)] == [True]
    assert [ok for _, ok in scoring.check_bounds(spec, {"balance": 1.5}, None)] == [False]
    assert [ok for _, ok in scoring.check_bounds(spec, {"balance": math.nan}, None)] == [False]


# ---- EPLB on a tiny instance: layers 2, experts 4, replicas 6, 2 GPUs (3 slots each) ----
EPLB_PARAMS = {"layers": 2, "experts": 4, "replicas": 6, "groups": 2, "nodes": 1, "gpus": 2}
NEXT = np.array([[8.0, 4.0, 3.0, 1.0], [2.0, 2.0, 4.0, 12.0]])


def valid_placement() -> dict[str, np.ndarray]:
    """Layer 0: experts 0 and 1 twice; layer 1: expert 3 three times."""
    return {
        "phy2log": np.array([[0, 1, 2, 3, 0, 1], [3, 2, 1, 0, 3, 3]]),
        "log2phy": np.array([[[0, 4, -1], [1, 5, -1], [2, -1, -1], [3, -1, -1]],
                             [[3, -1, -1], [2, -1, -1], [1, -1, -1], [0, 4, 5]]]),
        "logcnt": np.array([[2, 2, 1, 1], [1, 1, 1, 3]]),
    }


def eplb_run(placement: dict, next_load=NEXT):
    spec = eplb_spec()
    data = {"weight": NEXT.copy(), "next": next_load, **placement}
    return evaluate_instance(spec, bind(spec, EPLB_PARAMS), data)


def failures(res) -> dict:
    return {g.name: g.witness for g in res.guards if not g.passed}


def test_eplb_valid_placement():
    res = eplb_run(valid_placement())
    assert [g.name for g in res.guards] == ["ids_in_range", "counts_match", "every_expert_placed",
                                           "replica_slots_in_range", "inverse_map", "slots_listed_once",
                                           "no_dropped_tokens"]
    assert failures(res) == {}
    # slot loads: layer 0: 8/2, 4/2, 3, 1, 8/2, 4/2; layer 1: 12/3, 4, 2, 2, 12/3, 12/3
    assert res.lets["slot_load"].tolist() == [[4.0, 2.0, 3.0, 1.0, 4.0, 2.0], [4.0, 4.0, 2.0, 2.0, 4.0, 4.0]]
    assert res.lets["gpu_load"].tolist() == [[9.0, 7.0], [10.0, 10.0]]
    # balance = (mean 8 + mean 10) / (max 9 + max 10)
    assert res.metrics == {"balance": 18.0 / 19.0}
    assert res.bounds == (True,)


def with_change(name: str, index: tuple, value: int) -> dict:
    placement = valid_placement()
    placement[name][index] = value
    return placement


def test_eplb_broken_ids_in_range():
    # Slot 5 of layer 1 holds expert 4, which does not exist. The counts and the inverse map
    # break too: with counts_match and slots_listed_once, an id out of range cannot hide.
    res = eplb_run(with_change("phy2log", (1, 5), 4))
    assert failures(res) == {"ids_in_range": (1, 5), "counts_match": (1, 3), "inverse_map": (1, 3, 2)}


def test_eplb_broken_counts_match():
    # Expert 3 of layer 0 claims a second replica, listed as slot 3 again.
    placement = with_change("logcnt", (0, 3), 2)
    placement["log2phy"][0, 3, 1] = 3
    res = eplb_run(placement)
    assert failures(res) == {"counts_match": (0, 3), "slots_listed_once": (0, 3), "no_dropped_tokens": (0,)}


def test_eplb_broken_every_expert_placed():
    # Layer 0 gives expert 3 no replica; it gets no tokens in this window, so nothing is
    # dropped, yet the strong invariant still rejects the placement.
    placement = valid_placement()
    placement["phy2log"][0] = [0, 1, 2, 0, 1, 0]
    placement["log2phy"][0] = [[0, 3, 5], [1, 4, -1], [2, -1, -1], [-1, -1, -1]]
    placement["logcnt"][0] = [3, 2, 1, 0]
    next_load = NEXT.copy()
    next_load[0, 3] = 0.0
    res = eplb_run(placement, next_load)
    assert failures(res) == {"every_expert_placed": (0, 3)}


def test_eplb_broken_replica_slots_in_range():
    # Expert 1 of layer 0 lists slot 6 instead of 5. The inverse map reads phy2log[0, 6],
    # clamped to phy2log[0, 5] = 1, and passes; slot 5 is then listed by nobody.
    res = eplb_run(with_change("log2phy", (0, 1, 1), 6))
    assert failures(res) == {"replica_slots_in_range": (0, 1, 1), "slots_listed_once": (0, 5)}


def test_eplb_broken_inverse_map():
    # Padding past logcnt must be -1.
    res = eplb_run(with_change("log2phy", (0, 2, 1), 5))
    assert failures(res) == {"inverse_map": (0, 2, 1)}


def test_eplb_broken_slots_listed_once():
    # Expert 0 of layer 0 lists slot 0 twice (and slot 4 never): counts and inverse map agree.
    res = eplb_run(with_change("log2phy", (0, 0, 1), 0))
    assert failures(res) == {"slots_listed_once": (0, 0)}


def test_eplb_broken_no_dropped_tokens():
    # Expert 3 of layer 0 has no replica and 1 token to serve: the token is dropped.
    placement = valid_placement()
    placement["phy2log"][0] = [0, 1, 2, 0, 1, 0]
    placement["log2phy"][0] = [[0, 3, 5], [1, 4, -1], [2, -1, -1], [-1, -1, -1]]
    placement["logcnt"][0] = [3, 2, 1, 0]
    res = eplb_run(placement)
    assert failures(res) == {"every_expert_placed": (0, 3), "no_dropped_tokens": (0,)}


# ---- placement: scalar lets and a score from metrics ----
def placement_run(gpu_of, size=(10.0, 20.0, 30.0)):
    spec = compile_file(os.path.join(ROOT, "specs/placement.adrs"))
    data = {"size": np.array(size), "req_rate": np.array([1.0, 2.0, 3.0]), "slo": np.array([1.0, 2.0, 3.0]),
            "gpu_of": np.array(gpu_of)}
    return evaluate_instance(spec, bind(spec, {"gpus": 2, "models": 3}), data)


def test_placement_by_hand():
    res = placement_run([1, 1, 0])
    assert failures(res) == {}
    assert res.lets["used"].tolist() == [30.0, 30.0] and res.lets["demand"].tolist() == [1.0, 1.0, 1.0]
    assert res.lets["kvpr"].tolist() == [1.0 / 50.0, 2.0 / 50.0]
    # round robin: GPU 0 holds models 0 and 2 (40 GB, demand 2), GPU 1 model 1 (20 GB, demand 1)
    assert res.lets["baseline"][()] == 2.0 / 40.0
    assert res.lets["lower_bound"][()] == 3.0 / (160.0 - 60.0)
    assert res.metrics["max_kvpr"] == 2.0 / 50.0
    assert res.metrics["case_score"] == 100 * math.sqrt((2.0 / 40.0 - 2.0 / 50.0) / (2.0 / 40.0 - 3.0 / 100.0))
    assert res.bounds == (True,)


def test_placement_guards():
    assert failures(placement_run([0, 2, -1])) == {"gpu_in_range": (1,)}
    assert failures(placement_run([1, 0, 0], size=(30.0, 30.0, 60.0))) == {"fits_in_memory": (0,)}
