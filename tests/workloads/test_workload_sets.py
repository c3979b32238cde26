"""The shipped specs compile against the generators, and their workload sets build."""
import json
import os

import numpy as np
import pytest

from adrs_spec.errors import SpecError
from adrs_spec.compile import compile_file
from adrs_spec.workloads.build import build
from adrs_spec.workloads.holdouts import holdout_sets, training_sets
from adrs_spec.workloads.traces import load_vllm_expert_load

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("name, generators", [("eplb", {"zipf_drift"}), ("placement", {"randint"})])
def test_shipped_specs_compile(name, generators):
    spec = compile_file(os.path.join(ROOT, f"specs/{name}.adrs"))
    assert {t.generator for w in spec.workloads for t in w.traces} == generators


def test_small_eplb_training_set(small_eplb):
    spec = compile_file(str(small_eplb))
    [train] = training_sets(spec, seed=0)
    [group] = train.groups
    weight, nxt = group.fields["weight"], group.fields["next"]
    assert weight.shape == nxt.shape == (4, 3, 16)                 # windows 5: 4 (observed, next) pairs
    assert np.array_equal(weight[1:], nxt[:-1])                    # window w + 1 is the next of window w
    assert np.array_equal(weight.sum(axis=-1), np.full((4, 3), 4096.0))
    assert group.labels == ["case 0, w = 0", "case 0, w = 1", "case 0, w = 2", "case 0, w = 3"]
    s, sigma = group.generator_args[0]["load"]["s"], group.generator_args[0]["load"]["sigma"]
    assert 0.8 <= s < 1.2 and 0.02 <= sigma < 0.1
    [again] = training_sets(spec, seed=0)
    [other] = training_sets(spec, seed=1)
    assert np.array_equal(again.groups[0].fields["weight"], weight)
    assert not np.array_equal(other.groups[0].fields["weight"], weight)


def test_small_eplb_holdouts(small_eplb):
    spec = compile_file(str(small_eplb))
    sets, notes = holdout_sets(spec, seed=0)
    by_name = {s.name: s for s in sets}
    assert set(by_name) == {"regime_shift", "small_models", "auto_shift", "auto_shapes", "auto_boundary"}
    assert notes == []
    regime = by_name["regime_shift"].groups[0].generator_args[0]["load"]
    assert regime["shift_every"] == 4 and 1.2 <= regime["s"] < 1.6
    for g in by_name["small_models"].groups:
        assert g.params["layers"] == 2 and g.params["experts"] in (8, 16)
        assert g.fields["weight"].shape[1:] == (2, g.params["experts"])
    boundary = by_name["auto_boundary"].groups[0]
    assert boundary.labels == ["empty_layer", "exact_ties", "huge_tokens", "one_hot_expert", "tiny_tokens"]
    assert (boundary.fields["weight"][0, 0] == 0).all()
    assert (boundary.fields["next"][2].sum(axis=-1) == 1e9).all()


def test_placement_sets():
    spec = compile_file(os.path.join(ROOT, "specs/placement.adrs"))
    [train] = training_sets(spec, seed=0)
    assert train.size == 50
    for g in train.groups:
        assert 5 <= g.params["gpus"] < 10 and g.params["models"] == 2 * g.params["gpus"]
        size, rate, slo = g.fields["size"], g.fields["req_rate"], g.fields["slo"]
        assert size.shape == (g.size, g.params["models"])
        assert size.min() >= 10 and size.max() <= 29 and np.array_equal(size, np.round(size))
        assert rate.min() >= 1 and rate.max() <= 9 and slo.min() >= 5 and slo.max() <= 9
    sets, notes = holdout_sets(spec, seed=0, train=[train])
    more = next(s for s in sets if s.name == "more_gpus")
    assert more.size == 50 and all(10 <= g.params["gpus"] < 17 for g in more.groups)
    # Model sizes are not load: pushing them to extremes could leave no placement that fits.
    assert [s.name for s in sets] == ["more_gpus", "auto_shift", "auto_shapes"]
    assert notes == ["auto_boundary: skipped (no field drawn from a load generator such as zipf_drift)"]


def test_generator_error_is_located_in_the_spec(small_eplb):
    text = small_eplb.read_text()
    small_eplb.write_text(text.replace("sigma = 0.02 .. 0.1", "sigma = -0.5"))
    spec = compile_file(str(small_eplb))
    with pytest.raises(SpecError) as err:
        training_sets(spec, seed=0)
    assert err.value.message == "generator `zipf_drift`: `sigma` = -0.5 is out of range; `sigma` must be >= 0"
    line = text.splitlines()[err.value.span.line - 1]
    assert "trace load" in line


def test_a_vllm_trace_replaces_the_generated_one(small_eplb, tmp_path):
    spec = compile_file(str(small_eplb))
    rng = np.random.default_rng(0)
    history = [rng.integers(0, 50, size=(3, 16)).tolist() for _ in range(30)]
    path = tmp_path / "expert-load.json"
    path.write_text(json.dumps({"load_history": history}))
    load = load_vllm_expert_load(str(path), window=10)
    built = build(spec, spec.workloads[0], seed=0, data={"load": load})
    [group] = built.groups
    assert np.array_equal(group.fields["weight"], load[:2]) and np.array_equal(group.fields["next"], load[1:])
    assert np.array_equal(group.fields["weight"][0], np.sum(history[:10], axis=0))


SETS_SPEC = '''spec sets "Sets of choices"
param n: int = 4
instance {
  observe up: float[n] >= 0
  observe order: float[n] >= 0
}
policy f(up, order, n) -> y: int[n]
invariant ok: forall i: y[i] >= 0
metric m = sum(i: up[i])
workload w {
  cases 40
  n in {3, 5}
  trace up: float[n] = markov_onoff(on_to_off in {0.0, 1.0}, off_to_on = 0.5)
  trace order: float[n] = distinct(low = 0, high = n)
}
holdout wide from w with n in {7}
'''


def test_sets_are_written_with_in_in_workloads_generator_arguments_and_holdouts(tmp_path):
    path = tmp_path / "sets.adrs"
    path.write_text(SETS_SPEC)
    spec = compile_file(str(path))
    [train] = training_sets(spec, seed=0)
    sizes = {g.params["n"] for g in train.groups}
    assert sizes == {3, 5}
    for group in train.groups:
        n = group.params["n"]
        assert (np.sort(group.fields["order"], axis=1) == np.arange(n)).all()     # a permutation per case
        assert set(np.unique(group.fields["up"]).tolist()) <= {0.0, 1.0}
    wide = build(spec, spec.workloads[0], seed=0, name="wide", kind="holdout",
                 overrides=tuple(spec.holdouts[0].overrides))
    assert {g.params["n"] for g in wide.groups} == {7}
