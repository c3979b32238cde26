"""The checker: what the IR of the shipped specs looks like, and the facts it infers."""
import pytest

from adrs_spec.lang import ir
from adrs_spec.errors import Source, SpecError
from adrs_spec.compile import check, compile_file
from adrs_spec.frontend.parser import parse
from adrs_spec.lang.statics import bind, shapes


def checked(text):
    source = Source("t.adrs", text)
    return check(parse(source), source)


HEAD = '''spec t "t"
param n: int = 4 in 1 .. 10
param k: int = 2 in 1 .. 10
instance { observe x: float[n] >= 0 }
policy f(x, k) -> y: int[n]
'''


@pytest.fixture(scope="module")
def eplb():
    return compile_file("specs/eplb.adrs")


def test_eplb_declarations(eplb):
    assert [p.name for p in eplb.params] == ["layers", "experts", "replicas", "groups", "nodes", "gpus"]
    assert [s.name for s in eplb.statics] == ["slots", "max_copies"]
    assert [t.name for t in eplb.fields("observe")] == ["weight"]
    assert [t.name for t in eplb.fields("hidden")] == ["next"]
    assert eplb.policy.args == ("weight", "replicas", "groups", "nodes", "gpus")
    assert eplb.policy.outputs == ("phy2log", "log2phy", "logcnt")
    assert [inv.name for inv in eplb.invariants] == [
        "ids_in_range", "counts_match", "every_expert_placed", "replica_slots_in_range", "inverse_map",
        "slots_listed_once", "no_dropped_tokens"]
    assert [m.name for m in eplb.metrics] == ["balance"]
    assert [o.direction for o in eplb.objectives] == ["maximize", "minimize"]


def test_eplb_shapes_at_defaults(eplb):
    env = bind(eplb)
    assert env["slots"] == 9 and env["max_copies"] == 33
    s = shapes(eplb, env)
    assert s["phy2log"] == (58, 288) and s["log2phy"] == (58, 256, 33) and s["gpu_load"] == (58, 32)
    assert s["slot_load"] == (58, 288)


def test_index_domains_are_inferred(eplb):
    inv = {i.name: i for i in eplb.invariants}
    assert [(v.name, v.hi.name) for v in inv["inverse_map"].vars] == [
        ("l", "layers"), ("e", "experts"), ("r", "max_copies")]
    count = inv["counts_match"].body.right
    assert isinstance(count, ir.Reduce) and count.op == "count"
    assert count.vars[0].hi.name == "replicas"


def test_dependent_range_of_gpu_load(eplb):
    gpu_load = next(l for l in eplb.lets if l.name == "gpu_load")
    (p,) = gpu_load.body.vars
    assert isinstance(p.lo, ir.Binary) and p.lo.op == "*"
    assert gpu_load.dtype == "float"


def test_int_operands_promoted_for_float_division(eplb):
    slot_load = next(l for l in eplb.lets if l.name == "slot_load")
    assert slot_load.body.op == "/"
    assert isinstance(slot_load.body.right, ir.Call) and slot_load.body.right.fn == "float"


def test_bind_checks_requires(eplb):
    with pytest.raises(SpecError, match="requirement `experts % groups == 0` does not hold"):
        bind(eplb, {"experts": 250})
    with pytest.raises(SpecError, match="outside its range"):
        bind(eplb, {"layers": 500})
    assert bind(eplb, {"experts": 64, "replicas": 80, "gpus": 8, "nodes": 2, "groups": 4})["slots"] == 10


def test_placement_lets_in_dependency_order():
    spec = compile_file("specs/placement.adrs")
    order = [l.name for l in spec.lets]
    assert order.index("used") < order.index("kvpr") and order.index("demand") < order.index("pressure")
    baseline = next(l for l in spec.lets if l.name == "baseline")
    assert baseline.vars == () and baseline.dtype == "float"
    assert spec.tensor("baseline").shape == ()


def test_unused_declarations_are_warnings():
    result = checked(HEAD + "param unused: int = 3\nlet spare = n + 1\ninvariant r: forall i: 0 <= y[i] < k\n")
    assert [w.message for w in result.warnings] == [
        "`unused` is declared but never used", "`spare` is declared but never used"]


def test_static_let_vs_tensor_let():
    result = checked(HEAD + "let half = n // 2\nlet total = sum(i: x[i])\n"
                     "invariant r: forall i: 0 <= y[i] < half\nmetric m = total\n")
    assert [s.name for s in result.spec.statics] == ["half"]
    assert [l.name for l in result.spec.lets] == ["total"]


def test_metric_aggregate_default_and_explicit():
    result = checked(HEAD + "invariant r: forall i: 0 <= y[i] < k\nmetric a = sum(i: x[i])\n"
                     "metric b = max(i: x[i]) aggregate max\n")
    assert [(m.name, m.aggregate) for m in result.spec.metrics] == [("a", "mean"), ("b", "max")]


def test_tolerance_declaration():
    result = checked(HEAD + "invariant r: forall i: 0 <= y[i] < k\ntolerance 0.001\n")
    assert result.spec.tolerance == 0.001


def test_deterministic_ir():
    assert compile_file("specs/eplb.adrs") == compile_file("specs/eplb.adrs")
