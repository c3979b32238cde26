"""Step blocks and recurrence lets: the JAX backend (lax.scan) agrees with the reference loop."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adrs_spec.lang import ir
from adrs_spec.backends.reference.instance import evaluate_instance
from adrs_spec.errors import Source
from adrs_spec.evaluator import Evaluator, compile_in_memory
from adrs_spec.compile import check_source
from adrs_spec.lang.statics import bind

HEAD = """spec seq "A sequence"
param n: int = 6 in 1 .. 64
param m: int = 4 in 1 .. 16
instance {
  observe size: int[n] >= 0
  observe weight: float[n] >= 0
}
policy order_of(size, weight) -> order: int[n]
invariant in_range: forall i: 0 <= order[i] < n
"""

BODY = """
# a running maximum, a two-back recurrence and one over every earlier step
let done[i in 0 .. n] = max(done[i - 1], size[order[i]]) initially 0
let fib[i in 0 .. n] = fib[i - 1] + fib[i - 2] + size[order[i]] % 3 initially 1
let best[i in 0 .. n] = max(k in 0 .. i: best[k] + weight[order[k]]) - 0.5 initially 0.25
# a recurrence over a second index, read at other rows of the earlier step
let tally[i in 0 .. n, g in 0 .. m] = tally[i - 1, (g + 1) % m] + (if size[order[i]] % m == g then 1 else 0)
  initially 0

step i in 0 .. n {
  state busy: int[m] = 0             # the latest step at which each bin was used
  state load: float[m] = 0.0
  state low: int[m] = 100
  state count: int = 0
  state last: int = -1
  let t = order[i]
  let bin = size[t] % m
  let wait = max(busy[bin], busy[(bin + 1) % m])
  let row[g in 0 .. m] = load[g] + (if g == bin then weight[t] else 0.0)
  busy[bin] max= i + wait
  busy[(bin + 1) % m] max= i
  load[g] += weight[t] * 0.5 for g in 0 .. m where g != bin
  low[g] min= size[t] + g for g in 0 .. m where g <= i
  count += wait
  last = bin + busy[bin]             # the table as the step began
  busy[size[t] - 100] max= 7         # outside the table: changes nothing
}

invariant waits_stay_small: forall i: wait[i] <= 3 * n
metric finish = done[n - 1]
metric fib_last = fib[n - 1]
metric best_last = best[n - 1]
metric tallies = sum(i, g: tally[i, g] * (g + 1))
metric busy_sum = sum(b: busy[b])
metric load_sum = sum(b: load[b])
metric low_sum = sum(b: low[b])
metric count_ = count
metric last_ = last
metric rows = sum(i, g: row[i, g])
"""


def spec_of(text):
    return check_source(Source("seq.adrs", text))


def draws(rng, n, count, invalid=False):
    fields, outputs = [], []
    for case in range(count):
        fields.append({"size": rng.integers(0, 50, n), "weight": rng.integers(0, 8, n) / 4})
        order = rng.permutation(n)
        if invalid and case % 2:
            order[rng.integers(n)] = n + 1
        outputs.append({"order": order})
    return fields, outputs


def assert_parity(spec, params, fields, outputs, rel=1e-6):
    env = bind(spec, params)
    got = Evaluator(spec, compile_in_memory(spec)).evaluate_batch(params, fields, outputs)
    for f, o, g in zip(fields, outputs, got):
        ref = evaluate_instance(spec, env, {**f, **o})
        for name in ref.metrics:
            assert g.metrics[name] == pytest.approx(ref.metrics[name], rel=rel, abs=1e-6), name
        for r in ref.guards:
            assert (r.passed, r.witness) == (g.guard(r.name).passed, g.guard(r.name).witness), r.name


def test_step_blocks_and_recurrences_agree_with_the_reference():
    spec = spec_of(HEAD + BODY)
    assert sum(isinstance(x, ir.Step) for x in spec.lets) == 5
    fields, outputs = draws(np.random.default_rng(0), 6, 6)
    assert_parity(spec, {}, fields, outputs)


def test_a_step_block_at_another_size_and_with_out_of_range_orders():
    spec = spec_of(HEAD + BODY)
    fields, outputs = draws(np.random.default_rng(1), 9, 4, invalid=True)
    assert_parity(spec, {"n": 9, "m": 3}, fields, outputs)


def test_a_witness_names_the_step():
    spec = spec_of(HEAD + BODY.replace("wait[i] <= 3 * n", "wait[i] <= 0"))
    fields = [{"size": np.array([1, 1, 1, 1, 1, 1]), "weight": np.zeros(6)}]
    outputs = [{"order": np.arange(6)}]
    env = bind(spec, {})
    ref = evaluate_instance(spec, env, {**fields[0], **outputs[0]})
    (got,) = Evaluator(spec, compile_in_memory(spec)).evaluate_batch({}, fields, outputs)
    # every step uses bin 1: steps 0 and 1 wait 0 (steps 0 and 1 mark busy[1] with 0, then 1),
    # step 2 waits 1: the first violation is at i = 2
    assert ref.guard("waits_stay_small").witness == (2,) == got.guard("waits_stay_small").witness


def test_the_reference_loop_by_hand():
    spec = spec_of(HEAD + BODY)
    env = bind(spec, {"n": 3, "m": 2})
    data = {"size": np.array([3, 4, 5]), "weight": np.array([1.0, 2.0, 4.0]), "order": np.array([2, 0, 1])}
    lets = evaluate_instance(spec, env, data).lets
    assert lets["done"].tolist() == [5, 5, 5]
    assert lets["fib"].tolist() == [1 + 1 + 2, 4 + 1 + 0, 5 + 4 + 1]
    assert lets["bin"].tolist() == [1, 1, 0]
    # step 0: bin 1, busy = [0, 0]: wait 0; busy[1] max= 0, busy[0] max= 0
    # step 1: bin 1, wait 0; busy[1] max= 1, busy[0] max= 1; step 2: bin 0, wait 1; busy[0] max= 3, busy[1] max= 2
    assert lets["busy"].tolist() == [3, 2]
    assert lets["count"].item() == 1
    assert lets["last"].item() == 0 + 1           # bin 0 plus busy[0] as step 2 began (1)


# ---- generated recurrences ----
combine = st.sampled_from(["max({prev}, {term})", "min({prev}, {term})", "{prev} + {term}",
                           "if {prev} > 10 then {prev} - {term} else {prev} + {term}"])
term = st.sampled_from(["size[order[i]]", "size[i] * 2 - 3", "(i + 1) * size[order[i]] % 7", "i"])
back = st.integers(1, 3)


@st.composite
def recurrences(draw):
    c = draw(back)
    prev = draw(st.sampled_from([f"x[i - {c}]", f"max(0, max(k in 0 .. i - {c} + 1: x[k]))",
                                 f"sum(k in i - {c} .. i: x[k]) % 100"]))
    body = draw(combine).format(prev=prev, term=draw(term))
    init = draw(st.integers(-3, 3))
    table = draw(st.integers(1, 5))
    op = draw(st.sampled_from(["max=", "min=", "+="]))
    where = draw(st.sampled_from(["", " for g in 0 .. m where g < i", " for g in 0 .. m"]))
    index = "g" if where else draw(st.sampled_from(["size[order[i]] % m", "(i + 1) % m", "i - 2"]))
    value = draw(st.sampled_from(["x[i]", "i * 3 - size[order[i]]", "tab[(i + 2) % m] + 1"]))
    return (f"let x[i in 0 .. n] = {body} initially {init}\n"
            f"step i in 0 .. n {{\n  state tab: int[m] = {init}\n  tab[{index}] {op} {value}{where}\n}}\n"
            f"metric xs = sum(i: x[i] * (i + 1))\nmetric tabs = sum(g: tab[g] * (g + 3))\n"), table


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(recurrences(), st.integers(0, 1000))
def test_generated_recurrences_agree_with_the_reference(case, seed):
    text, table = case
    spec = spec_of(HEAD + text)
    rng = np.random.default_rng(seed)
    fields, outputs = draws(rng, 7, 3)
    assert_parity(spec, {"n": 7, "m": table}, fields, outputs)
