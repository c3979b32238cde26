"""The JAX backend agrees with the reference interpreter, traces once, and writes stable code."""
import inspect
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adrs_spec import __version__
from adrs_spec.backends.jax.codegen import generate, module_source
from adrs_spec.backends.reference.instance import evaluate_instance
from adrs_spec.errors import Source
from adrs_spec.evaluator import Evaluator, compile_in_memory
from adrs_spec.compile import check_source, compile_file
from adrs_spec.lang.statics import bind
from conftest import ROOT, small_eplb_text


def spec_of(text: str, name: str = "t.adrs"):
    return check_source(Source(name, text))


@pytest.fixture(scope="module")
def eplb_small():
    spec = spec_of(small_eplb_text(), "eplb_small.adrs")
    return spec, Evaluator(spec, compile_in_memory(spec))


# ---- random outputs ----
def valid_eplb_outputs(rng, layers: int, experts: int, replicas: int, max_copies: int) -> dict:
    """A valid placement: one replica per expert, the rest at random, slots shuffled."""
    phy2log = np.zeros((layers, replicas), np.int64)
    log2phy = np.full((layers, experts, max_copies), -1, np.int64)
    logcnt = np.zeros((layers, experts), np.int64)
    for l in range(layers):
        counts = 1 + rng.multinomial(replicas - experts, np.full(experts, 1 / experts))
        phy2log[l] = rng.permutation(np.repeat(np.arange(experts), counts))
        logcnt[l] = counts
        for e in range(experts):
            slots = np.flatnonzero(phy2log[l] == e)
            log2phy[l, e, :len(slots)] = slots
    return {"phy2log": phy2log, "log2phy": log2phy, "logcnt": logcnt}


def _drop_expert(o):
    """Expert 0 of layer 0 loses its replicas to expert 1; the maps stay consistent."""
    slots = np.flatnonzero(o["phy2log"][0] == 0)
    o["phy2log"][0, slots] = 1
    o["logcnt"][0, 1] += len(slots)
    o["logcnt"][0, 0] = 0
    o["log2phy"][0, 0] = -1
    o["log2phy"][0, 1] = -1
    mine = np.flatnonzero(o["phy2log"][0] == 1)
    o["log2phy"][0, 1, :len(mine)] = mine


def _swap_inverse(o):
    """Two experts swap their first listed slot: every slot still listed once, the maps disagree."""
    a, b = o["log2phy"][1, 2, 0], o["log2phy"][1, 5, 0]
    o["log2phy"][1, 2, 0], o["log2phy"][1, 5, 0] = b, a


def _duplicate_slot(o):
    o["log2phy"][2, 7, 0] = o["log2phy"][2, 3, 0]


def _reassign_slot(o):
    """A slot serves another expert but the counts are not updated: tokens go missing."""
    p = int(np.flatnonzero(o["phy2log"][1] == 4)[0])
    o["phy2log"][1, p] = 9


BREAKS = {
    "ids_in_range": lambda o: o["phy2log"].__setitem__((1, 5), 16),
    "counts_match": lambda o: o["logcnt"].__setitem__((2, 3), o["logcnt"][2, 3] + 1),
    "every_expert_placed": _drop_expert,
    "replica_slots_in_range": lambda o: o["log2phy"].__setitem__((0, 6, 0), 24),
    "inverse_map": _swap_inverse,
    "slots_listed_once": _duplicate_slot,
    "no_dropped_tokens": _reassign_slot,
}


def reference(spec, fields: dict, outputs: dict):
    return evaluate_instance(spec, bind(spec, {}), {**fields, **outputs})


def assert_agree(ref, got, rel: float = 1e-5):
    for g in ref.guards:
        mine = got.guard(g.name)
        assert (mine.passed, mine.witness) == (g.passed, g.witness), g.name
    for name, want in ref.metrics.items():
        have = got.metrics[name]
        if math.isnan(want):
            assert math.isnan(have), name
        else:
            assert have == pytest.approx(want, rel=rel), name


def eplb_fields(rng, layers=3, experts=16):
    load = rng.multinomial(4096, rng.dirichlet(np.ones(experts)), size=(2, layers)).astype(np.float64)
    return {"weight": load[0], "next": load[1]}


# ---- parity ----
@pytest.mark.parametrize("seed", range(4))
def test_eplb_valid_outputs_agree_with_the_reference(eplb_small, seed):
    spec, ev = eplb_small
    rng = np.random.default_rng(seed)
    fields = [eplb_fields(rng) for _ in range(3)]
    outputs = [valid_eplb_outputs(rng, 3, 16, 24, 9) for _ in range(3)]
    got = ev.evaluate_batch({}, fields, outputs)
    for f, o, g in zip(fields, outputs, got):
        ref = reference(spec, f, o)
        assert ref.passed and g.passed
        assert_agree(ref, g)
        assert 0.2 < g.metrics["balance"] <= 1.0


@pytest.mark.parametrize("broken", sorted(BREAKS))
def test_eplb_each_broken_invariant_agrees_with_the_reference(eplb_small, broken):
    spec, ev = eplb_small
    rng = np.random.default_rng(7)
    fields = eplb_fields(rng)
    outputs = valid_eplb_outputs(rng, 3, 16, 24, 9)
    BREAKS[broken](outputs)
    ref = reference(spec, fields, outputs)
    (got,) = ev.evaluate_batch({}, [fields], [outputs])
    assert not ref.guard(broken).passed
    assert not got.guard(broken).passed
    assert_agree(ref, got)


def test_a_dropped_expert_is_caught_twice_with_witnesses(eplb_small):
    """The gamed evaluator's blind spot: the expert has no replica and its tokens vanish."""
    spec, ev = eplb_small
    rng = np.random.default_rng(3)
    outputs = valid_eplb_outputs(rng, 3, 16, 24, 9)
    _drop_expert(outputs)
    (got,) = ev.evaluate_batch({}, [eplb_fields(rng)], [outputs])
    assert [g.name for g in got.guards if not g.passed] == ["every_expert_placed", "no_dropped_tokens"]
    assert got.guard("every_expert_placed").witness == (0, 0)
    assert got.guard("no_dropped_tokens").witness == (0,)


def test_float64_on_request_matches_the_reference_closely(eplb_small):
    spec, _ = eplb_small
    ev = Evaluator(spec, compile_in_memory(spec), dtype="float64")
    rng = np.random.default_rng(11)
    fields, outputs = eplb_fields(rng), valid_eplb_outputs(rng, 3, 16, 24, 9)
    (got,) = ev.evaluate_batch({}, [fields], [outputs])
    assert_agree(reference(spec, fields, outputs), got, rel=1e-12)


def test_float64_evaluation_leaves_the_process_in_its_own_precision(eplb_small):
    """64-bit mode holds inside a float64 evaluator's calls only: afterwards the config is as it
    was, JAX code elsewhere still computes in float32, and a float32 evaluator (its jitted
    function traced before and after) still gives float32 metrics."""
    spec, _ = eplb_small
    module = compile_in_memory(spec)
    before = jax.config.jax_enable_x64
    rng = np.random.default_rng(3)
    fields, outputs = eplb_fields(rng), valid_eplb_outputs(rng, 3, 16, 24, 9)
    batch = ({n: fields[n][None] for n in fields}, {n: outputs[n][None] for n in outputs})
    narrow = module.make_evaluator()
    assert narrow(*batch)["metrics"]["balance"].dtype == jnp.float32
    wide = module.make_evaluator(dtype="float64")
    for _ in range(2):
        result = wide(*batch)
        assert result["metrics"]["balance"].dtype == jnp.float64
    assert jax.config.jax_enable_x64 == before
    assert jnp.asarray(1.0).dtype == jnp.float32 and (jnp.ones(3) / 3).dtype == jnp.float32
    assert jnp.arange(3).dtype == jnp.int32
    assert narrow(*batch)["metrics"]["balance"].dtype == jnp.float32
    want = reference(spec, fields, outputs).metrics["balance"]
    assert float(result["metrics"]["balance"][0]) == pytest.approx(want, rel=1e-12)


def test_a_float64_evaluator_traces_once_across_calls(eplb_small):
    spec, _ = eplb_small
    module = compile_in_memory(spec)
    traces = count_traces(module)
    before = jax.config.jax_enable_x64
    evaluate = module.make_evaluator(dtype="float64")
    rng = np.random.default_rng(4)
    for _ in range(3):
        fields, outputs = eplb_fields(rng), valid_eplb_outputs(rng, 3, 16, 24, 9)
        evaluate({n: fields[n][None] for n in fields}, {n: outputs[n][None] for n in outputs})
    assert len(traces) == 1 and jax.config.jax_enable_x64 == before


def test_placement_agrees_with_the_reference_including_overfull_gpus():
    spec = compile_file(os.path.join(ROOT, "specs/placement.adrs"))
    ev = Evaluator(spec, compile_in_memory(spec))
    rng = np.random.default_rng(5)
    params = {"gpus": 4, "models": 8}
    spec_env = bind(spec, params)
    fields, outputs = [], []
    for case in range(6):
        fields.append({"size": rng.integers(10, 30, 8).astype(float), "req_rate": rng.integers(1, 10, 8).astype(float),
                       "slo": rng.integers(5, 10, 8).astype(float)})
        gpu_of = rng.integers(0, 4, 8)
        if case == 4:
            gpu_of[:] = 2                       # everything on one GPU: over memory
        if case == 5:
            gpu_of[3] = 4                       # out of range
        outputs.append({"gpu_of": gpu_of})
    got = ev.evaluate_batch(params, fields, outputs)
    failed = []
    for f, o, g in zip(fields, outputs, got):
        ref = evaluate_instance(spec, spec_env, {**f, **o})
        assert_agree(ref, g)
        failed.append(tuple(x.name for x in g.guards if not x.passed))
    assert failed[4] == ("fits_in_memory",) and failed[5] == ("gpu_in_range",)


# ---- constructs: every lowering path against the reference, let by let ----
TOY = """spec toy "toy"
param n: int = 6
param k: int = 2
instance {
  observe x: float[n]
  observe ids: int[n]
  observe grid: float[n, n]
}
policy f(x, ids) -> y: int[n]
invariant y_small: forall i: y[i] < n
"""

CONSTRUCTS = """
let gathered[i in 0 .. n] = x[ids[i]]
let transposed[i in 0 .. n, j in 0 .. n] = grid[j, i]
let shifted[i in 0 .. n] = x[i + 2]
let per_id[v in 0 .. n] = count(i: ids[i] == v)
let sum_by_id[v in 0 .. n] = sum(i where ids[i] == v: x[i])
let mean_by_id[v in 0 .. n] = mean(i where ids[i] == v: x[i])
let filtered_by_id[v in 0 .. n] = count(i where x[i] > 0.0: ids[i] == v)
let pairs[v in 0 .. n] = count(i, j where j < i: ids[i] + ids[j] == v)
let prefix_count[v in 0 .. n] = count(i, j in 0 .. n where j < ids[i]: (i + j) % n == v)
let prefix_sum[v in 0 .. n] = sum(i, j where j < ids[i] and (i * j) % n == v: grid[i, j])
let prefix_mean[v in 0 .. n] = mean(i, j where j < ids[i] and (i * j) % n == v: grid[i, j])
let block_sums[b in 0 .. n // k] = sum(i in b * k .. (b + 1) * k: x[i])
let offset_blocks[b in 0 .. n // k - 1] = sum(i in b * k + 1 .. (b + 1) * k + 1: x[i])
let triangle[i in 0 .. n] = sum(j in 0 .. i + 1: x[j])
let window_max[i in 0 .. n - 2] = max(j in i .. i + 3: x[j])
let empty_max = max(i where x[i] > 100.0: x[i])
let empty_min = min(i where ids[i] > 100: ids[i])
let masked_mean = mean(i where x[i] > 0.0: x[i])
let none_mean = mean(i where x[i] > 100.0: x[i])
let row_max[i in 0 .. n] = max(j: grid[i, j])
let chosen[i in 0 .. n] = if ids[i] % 2 == 0 then x[i] else -x[i]
let divided[i in 0 .. n] = ids[i] // (i - 2) + ids[i] % (i - 3)
let ratio[i in 0 .. n] = x[i] / float(ids[i])
let calls[i in 0 .. n] = sqrt(abs(x[i])) + exp(-x[i]) + clip(x[i], -1.0, 1.0) + float(floor(x[i]))
let close[i in 0 .. n] = x[i] ~= x[0]
let every = all(i: ids[i] >= 0)
let some = exists i: ids[i] == 3 and x[i] > 0.0
let product = prod(i where ids[i] != 0: ids[i])
"""


def run_lets(module, spec, values: dict) -> dict:
    """Each generated let function called eagerly, in spec order."""
    s = module.bind_statics()
    t = {name: jnp.asarray(v) for name, v in values.items()}
    t = module.rt.cast_tensors(t, {**module.FIELDS, **module.OUTPUTS}, s)
    for let in spec.lets:
        fn = getattr(module, let.name)
        args = [t[p] for p in list(inspect.signature(fn).parameters)[1:]]
        t[let.name] = fn(s, *args)
    return {let.name: np.asarray(t[let.name]) for let in spec.lets}


@pytest.mark.parametrize("seed", range(3))
def test_every_construct_agrees_with_the_reference(seed):
    spec = spec_of(TOY + CONSTRUCTS)
    module = compile_in_memory(spec)
    rng = np.random.default_rng(seed)
    values = {"x": np.round(rng.normal(size=6), 3), "ids": rng.integers(-1, 7, 6),
              "grid": rng.normal(size=(6, 6)), "y": np.zeros(6, np.int64)}
    values["x"][3] = values["x"][0]          # an exact tie for `~=`
    ref = evaluate_instance(spec, bind(spec, {}), values).lets
    got = run_lets(module, spec, values)
    for name, want in ref.items():
        have = got[name]
        if name == "empty_min":      # the extreme of the evaluator's int type: int32 in float32 mode
            assert have.dtype == np.int32 and want == np.iinfo(np.int64).max
            want = np.iinfo(np.int32).max
        assert have.shape == np.shape(want), name
        if np.asarray(want).dtype.kind == "f":
            np.testing.assert_allclose(have, want, rtol=1e-5, atol=1e-6, err_msg=name)
        else:
            np.testing.assert_array_equal(have, want, err_msg=name)


def test_ragged_prefixes_skip_padding():
    source = module_source(spec_of(TOY + CONSTRUCTS), __version__)
    assert "rt.segment_sum(1, rt.mod(i[:, None] + j, s.n), s.n, reduced_axes=2, prefix=ids)" in source


RAGGED = """spec ragged "ragged ranks"
param n: int = 5
param m: int = 4
instance {
  observe x: float[n]
}
policy f(x) -> cnt: int[n], table: int[n, m], cap: int[m]
invariant listed_in_range: forall i, r: r < cnt[i] implies 0 <= table[i, r] < n
invariant under_cap: forall i, r: r < cnt[i] implies table[i, r] <= cap[r] + i
invariant rank_as_value: forall i, r: r < cnt[i] implies table[i, r] != r
invariant limit_on_the_first: forall i, j in 0 .. 2, r: r < cnt[i] implies table[i, r] != j + 3
invariant limit_on_the_last: forall j in 0 .. 2, i, r: r < cnt[i] implies table[i, r] + j < 5
"""


def test_ragged_invariants_check_only_the_listed_ranks():
    source = module_source(spec_of(RAGGED), __version__)
    assert "on_rank=(listed_in_range_on_rank, (None, 1))" in source
    assert "on_rank=(under_cap_on_rank, (None, 1, 0))" in source
    assert "rank_as_value_on_rank" not in source           # `r` is a value there, not only an index
    assert "limit_on_the_first_on_rank" in source and "limit_on_the_last_on_rank" in source
    on_rank = source[source.index("def listed_in_range_on_rank"):source.index("def under_cap(")]
    assert "ok = (0 <= table) & (table < s.n)  # (n, 1)" in on_rank
    assert "return cnt, ok" in on_rank
    eplb = module_source(compile_file(os.path.join(ROOT, "specs/eplb.adrs")), __version__)
    assert "on_rank=(replica_slots_in_range_on_rank, (2, None))" in eplb
    assert "inverse_map_on_rank" not in eplb               # if/else: the padding is checked too


def test_ragged_invariants_agree_with_the_reference_batched_and_alone():
    spec = spec_of(RAGGED)
    module = compile_in_memory(spec)
    ev = Evaluator(spec, module)
    rng = np.random.default_rng(8)
    fields = [{"x": rng.normal(size=5)} for _ in range(12)]
    outputs = [{"cnt": rng.integers(-1, 7, 5), "table": rng.integers(-1, 6, (5, 4)), "cap": rng.integers(2, 6, 4)}
               for _ in range(12)]
    outputs[0] = {"cnt": np.zeros(5, int), "table": np.full((5, 4), 9), "cap": np.zeros(4, int)}   # nothing listed
    outputs[1] = {"cnt": np.full(5, 9), "table": np.zeros((5, 4), int), "cap": np.zeros(4, int)}  # past the axis
    outputs[2] = {"cnt": np.full(5, 4), "table": np.tile(np.arange(1, 5), (5, 1)), "cap": np.full(4, 4)}
    outputs[2]["table"][4, 3] = 5                               # its one violation: the last point, last rank
    results = [ev.evaluate_batch({}, fields, outputs), ev.evaluate_batch({}, fields[:2], outputs[:2])]
    outcomes = set()
    for got in results:
        for f, o, g in zip(fields, outputs, got):
            ref = evaluate_instance(spec, bind(spec, {}), {**f, **o})
            assert_agree(ref, g)
            outcomes |= {(x.name, x.passed) for x in g.guards}
    assert {(name, ok) for name in ("listed_in_range", "under_cap", "limit_on_the_first", "limit_on_the_last")
            for ok in (False, True)} <= outcomes
    ragged = [[g.passed for g in got.guards if g.name != "rank_as_value"] for got in results[1]]
    assert ragged == [[True] * 4] * 2                             # a batch where no witness is searched
    assert results[0][2].guard("listed_in_range").witness == (4, 3)
    s = module.bind_statics()
    t = {**{k: jnp.asarray(v) for k, v in fields[2].items()}, **{k: jnp.asarray(v) for k, v in outputs[2].items()}}
    alone = module.per_instance(s, t)                             # unbatched: a plain cond
    ref = evaluate_instance(spec, bind(spec, {}), {**fields[2], **outputs[2]})
    for g in ref.guards:
        witness = tuple(int(w) for w in alone["witness"][g.name])
        assert (bool(alone["passed"][g.name]), None if g.passed else witness) == (g.passed, g.witness), g.name


def test_ints_beyond_int32_saturate_and_still_fail_the_guard(eplb_small):
    spec, ev = eplb_small
    rng = np.random.default_rng(4)
    outputs = valid_eplb_outputs(rng, 3, 16, 24, 9)
    outputs["phy2log"][2, 7] = 2 ** 40 + 3          # would wrap to 3, a valid id, if truncated
    (got,) = ev.evaluate_batch({}, [eplb_fields(rng)], [outputs])
    assert got.guard("ids_in_range").witness == (2, 7)


def test_fast_forms_are_used_for_counts_and_blocks():
    source = module_source(compile_file(os.path.join(ROOT, "specs/eplb.adrs")), __version__)
    counts = source[source.index("def counts_match"):source.index("def every_expert_placed")]
    listed = source[source.index("def slots_listed_once"):source.index("def no_dropped_tokens")]
    gpus = source[source.index("def gpu_load"):source.index("# ---- invariants")]
    assert "rt.segment_sum(1, phy2log, s.experts)" in counts
    assert "rt.segment_sum(1, log2phy, s.replicas, reduced_axes=2, prefix=logcnt)" in listed
    assert "rt.blocks(slot_load, axis=1, count=s.gpus, width=s.slots)" in gpus
    assert "one_hot" not in source and "[:, :, None] == " not in source


# ---- the module itself ----
def test_generation_is_deterministic_and_points_back_to_the_spec(monkeypatch):
    monkeypatch.chdir(ROOT)
    first = generate(compile_file("specs/eplb.adrs"), __version__)
    again = generate(compile_file("specs/eplb.adrs"), __version__)
    assert first == again
    text = first["evaluator.py"]
    assert text.startswith(f'"""Generated by adrs-spec {__version__} from specs/eplb.adrs; do not edit.')
    assert "# eplb.adrs:47 invariant every_expert_placed" in text
    assert "    l = np.arange(s.layers)  # (layers,)" in text


def count_traces(module) -> list:
    """A list that grows by one each time JAX traces the module's per_instance."""
    traces = []
    original = module.per_instance

    def counting(s, t):
        traces.append(1)
        return original(s, t)

    module.per_instance = counting
    return traces


def test_the_jitted_evaluator_traces_once_for_the_same_shapes(eplb_small):
    spec, _ = eplb_small
    module = compile_in_memory(spec)
    traces = count_traces(module)
    evaluate = module.make_evaluator()
    rng = np.random.default_rng(2)
    for _ in range(3):
        fields = [eplb_fields(rng) for _ in range(4)]
        outputs = [valid_eplb_outputs(rng, 3, 16, 24, 9) for _ in range(4)]
        stack = lambda dicts, name: np.stack([d[name] for d in dicts])  # noqa: E731
        result = evaluate({n: stack(fields, n) for n in ("weight", "next")},
                          {n: stack(outputs, n) for n in ("phy2log", "log2phy", "logcnt")})
        assert bool(np.all(result["passed"]["counts_match"]))
    assert len(traces) == 1


def test_a_batch_runs_in_padded_chunks_with_one_trace(eplb_small, monkeypatch):
    spec, _ = eplb_small
    module = compile_in_memory(spec)
    traces = count_traces(module)
    monkeypatch.setattr(module.rt, "CHUNK_ENTRIES", 3 * sum(math.prod(x) for x in module.shapes(
        module.bind_statics()).values()))
    evaluate = module.make_evaluator()
    assert evaluate.chunk == 3
    rng = np.random.default_rng(12)
    fields = [eplb_fields(rng) for _ in range(7)]
    outputs = [valid_eplb_outputs(rng, 3, 16, 24, 9) for _ in range(7)]
    _duplicate_slot(outputs[6])                  # in the last chunk, which is padded with copies of it
    _swap_inverse(outputs[1])
    stack = lambda dicts, name: np.stack([d[name] for d in dicts])  # noqa: E731
    got = evaluate({n: stack(fields, n) for n in ("weight", "next")},
                   {n: stack(outputs, n) for n in ("phy2log", "log2phy", "logcnt")})
    assert len(traces) == 1 and got["passed"]["inverse_map"].shape == (7,)
    for i, (f, o) in enumerate(zip(fields, outputs)):
        ref = reference(spec, f, o)
        for g in ref.guards:
            assert bool(got["passed"][g.name][i]) == g.passed, (i, g.name)
            if not g.passed:
                assert tuple(int(w) for w in got["witness"][g.name][i]) == g.witness, (i, g.name)
        assert float(got["metrics"]["balance"][i]) == pytest.approx(ref.metrics["balance"], rel=1e-5)
    assert [i for i in range(7) if not got["passed"]["slots_listed_once"][i]] == [6]


def test_wrong_batch_shapes_are_input_errors(eplb_small):
    spec, ev = eplb_small
    evaluate = ev.evaluator_for({})
    from adrs_spec.errors import InputError
    with pytest.raises(InputError, match=r"`weight` has shape \(2, 3, 15\), expected \(batch, 3, 16\)"):
        evaluate({"weight": np.zeros((2, 3, 15)), "next": np.zeros((2, 3, 16))},
                 {"phy2log": np.zeros((2, 3, 24), int), "log2phy": np.zeros((2, 3, 16, 9), int),
                  "logcnt": np.zeros((2, 3, 16), int)})
