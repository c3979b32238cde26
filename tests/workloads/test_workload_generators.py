"""The trace generators, and the sampling of workload ranges and sets."""
import numpy as np
import pytest

from adrs_spec.workloads.generators import (
    GENERATORS, Generator, GeneratorError, GenParam, register, sample_choice, sample_range, zipf_popularity)

ZIPF = GENERATORS["zipf_drift"]


def rng(seed=0):
    return np.random.default_rng(seed)


# ---- every generator ----

SHAPES = {"zipf_drift": (4, 3, 16), "dirichlet": (3, 5), "txn_lengths": (6,)}


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_shape_dtype_and_determinism(name):
    gen = GENERATORS[name]
    shape = SHAPES.get(name, (3, 5))
    a, b, c = gen(rng(1), shape), gen(rng(1), shape), gen(rng(2), shape)
    assert a.shape == shape and a.dtype == np.float64
    assert np.array_equal(a, b)
    if name != "constant":
        assert not np.array_equal(a, c)


def test_every_generator_documents_itself():
    for gen in GENERATORS.values():
        assert gen.doc and "\n" not in gen.doc
        for p in gen.params.values():
            assert p.doc and p.dtype in ("float", "int")
            assert p.coerce(p.default) == p.default      # the default is itself valid


def test_unknown_parameter():
    with pytest.raises(GeneratorError) as err:
        GENERATORS["uniform"](rng(), (2,), lo=1.0)
    assert str(err.value) == "`uniform` has no parameter `lo`; its parameters are low, high"


@pytest.mark.parametrize("name, args, message", [
    ("zipf_drift", {"sigma": -0.1}, "`sigma` = -0.1 is out of range; `sigma` must be >= 0"),
    ("zipf_drift", {"s": -1}, "`s` = -1 is out of range; `s` must be >= 0"),
    ("zipf_drift", {"burst": 1.5}, "`burst` = 1.5 is out of range; `burst` must be in [0, 1]"),
    ("zipf_drift", {"tokens": 2.5}, "`tokens` = 2.5 is not a whole number; `tokens` is an int"),
    ("zipf_drift", {"shift_every": -4}, "`shift_every` = -4 is out of range; `shift_every` must be >= 0"),
    ("normal", {"std": -1.0}, "`std` = -1 is out of range; `std` must be >= 0"),
    ("lognormal", {"sigma": float("nan")}, "`sigma` = nan is not finite; `sigma` must be >= 0"),
    ("uniform", {"low": 2, "high": 1.5}, "`low` = 2 must be below `high` = 1.5"),
    ("uniform", {"low": 1, "high": 1}, "`low` = 1 must be below `high` = 1"),
    ("randint", {"low": 5, "high": 5},
     "`low` = 5 must be below `high` = 5 (the integers low .. high - 1 are drawn)"),
    ("dirichlet", {"alpha": 0}, "`alpha` = 0 is out of range; `alpha` must be > 0"),
    ("dirichlet", {"total": -2}, "`total` = -2 is out of range; `total` must be >= 0"),
    ("constant", {"value": True}, "`value` = True is not a number; `value` must be any number"),
])
def test_bad_parameters(name, args, message):
    with pytest.raises(GeneratorError) as err:
        GENERATORS[name](rng(), SHAPES.get(name, (3, 4)), **args)
    assert str(err.value) == message


def test_bad_shapes():
    with pytest.raises(GeneratorError) as err:
        ZIPF(rng(), (5, 16))
    assert str(err.value) == ("`zipf_drift` draws a 3-dimensional trace [windows, layers, experts], "
                              "but the trace has 2 dimension(s) (shape (5, 16))")
    with pytest.raises(GeneratorError) as err:
        GENERATORS["uniform"](rng(), (3, -1))
    assert str(err.value) == "the trace shape (3, -1) has a negative dimension; every dimension must be >= 0"
    with pytest.raises(GeneratorError) as err:
        GENERATORS["dirichlet"](rng(), (3, 0))
    assert "no non-empty last axis" in str(err.value)


def test_register_adds_a_generator():
    gen = Generator("twice_index", "2 * the flat index", {"k": GenParam("k", "int", 2, "factor", lo=0)},
                    lambda rng, shape, k: k * np.arange(np.prod(shape)).reshape(shape))
    try:
        register(gen)
        assert np.array_equal(GENERATORS["twice_index"](rng(), (2, 2)), [[0, 2], [4, 6]])
        assert np.array_equal(GENERATORS["twice_index"](rng(), (3,), k=3), [0, 3, 6])
    finally:
        del GENERATORS["twice_index"]


# ---- zipf_drift ----

def test_zipf_totals_are_tokens_per_layer_window():
    x = ZIPF(rng(), (6, 3, 32), s=1.0, sigma=0.1, tokens=1000)
    assert np.array_equal(x.sum(axis=-1), np.full((6, 3), 1000.0))
    assert np.array_equal(x, np.round(x)) and (x >= 0).all()


def test_zipf_popularity_is_skewed_by_s():
    hot = ZIPF(rng(), (1, 4, 64), s=1.5, sigma=0.0, tokens=100000)
    flat = ZIPF(rng(), (1, 4, 64), s=0.0, sigma=0.0, tokens=100000)
    # rank 1 takes 1 / sum((r + 1) ** -1.5) of the tokens: about 40 %
    assert (hot.max(axis=-1) / 100000 > 0.35).all()
    assert (flat.max(axis=-1) / 100000 < 0.03).all()


def test_zipf_hot_experts_differ_by_layer():
    x = ZIPF(rng(3), (1, 8, 64), s=1.5, sigma=0.0, tokens=100000)
    assert len(set(x[0].argmax(axis=-1).tolist())) > 1


def test_regime_shift_repermutes_only_at_multiples_of_shift_every():
    p = zipf_popularity(rng(5), (10, 2, 32), s=1.0, sigma=0.0, shift_every=3)
    changed = [w for w in range(1, 10) if not np.array_equal(p[w], p[w - 1])]
    assert changed == [3, 6, 9]
    # a shift re-draws the ranking: the same sorted popularity on other experts
    assert np.allclose(np.sort(p[3], axis=-1), np.sort(p[2], axis=-1))
    assert not np.array_equal(p[3].argsort(axis=-1), p[2].argsort(axis=-1))


def test_no_shift_and_no_drift_keeps_the_popularity():
    p = zipf_popularity(rng(5), (6, 2, 16), s=1.0, sigma=0.0, shift_every=0)
    assert all(np.array_equal(p[w], p[0]) for w in range(6))


def test_drift_moves_the_popularity_every_window():
    p = zipf_popularity(rng(5), (5, 2, 16), s=1.0, sigma=0.2, shift_every=0)
    assert np.allclose(p.sum(axis=-1), 1.0)
    assert all(not np.array_equal(p[w], p[w - 1]) for w in range(1, 5))
    # a random walk in log space, not a re-draw: the ranking mostly survives one step
    same_top = (p[1].argmax(axis=-1) == p[0].argmax(axis=-1)).mean()
    assert same_top == 1.0


def test_bursts_scale_the_window_token_count():
    x = ZIPF(rng(), (40, 2, 8), tokens=100, burst=0.5, burst_scale=3.0)
    totals = x.sum(axis=-1)
    assert set(np.unique(totals).tolist()) == {100.0, 300.0}
    assert (totals[:, 0] == totals[:, 1]).all()          # a burst hits the whole window
    never = ZIPF(rng(), (40, 2, 8), tokens=100, burst=0.0, burst_scale=3.0)
    assert (never.sum(axis=-1) == 100).all()


def test_zipf_empty_shapes():
    assert ZIPF(rng(), (0, 3, 4)).shape == (0, 3, 4)
    assert ZIPF(rng(), (2, 3, 0)).shape == (2, 3, 0)


# ---- primitives ----

def test_randint_is_half_open():
    x = GENERATORS["randint"](rng(), (5000,), low=10, high=13)
    assert set(np.unique(x).tolist()) == {10.0, 11.0, 12.0}


def test_uniform_normal_lognormal_ranges():
    u = GENERATORS["uniform"](rng(), (2000,), low=-1.0, high=2.0)
    assert u.min() >= -1.0 and u.max() < 2.0
    n = GENERATORS["normal"](rng(), (4000,), mean=5.0, std=0.0)
    assert (n == 5.0).all()
    ln = GENERATORS["lognormal"](rng(), (4000,), mean=0.0, sigma=0.5)
    assert (ln > 0).all() and abs(np.log(ln).mean()) < 0.05


def test_dirichlet_sums_to_total():
    x = GENERATORS["dirichlet"](rng(), (4, 3, 6), alpha=0.5, total=50.0)
    assert np.allclose(x.sum(axis=-1), 50.0) and (x >= 0).all()


def test_constant():
    assert np.array_equal(GENERATORS["constant"](rng(), (2, 3), value=7), np.full((2, 3), 7.0))


# ---- sampling ranges and sets ----

def test_sample_range_ints_are_half_open_python_ints():
    values = {sample_range(rng(i), 3, 6) for i in range(200)}
    assert values == {3, 4, 5}
    assert all(type(v) is int for v in values)
    assert type(sample_range(rng(), np.int64(3), np.int64(6))) is int


def test_sample_range_floats():
    values = [sample_range(rng(i), 0.8, 1.2) for i in range(200)]
    assert all(type(v) is float and 0.8 <= v < 1.2 for v in values)
    assert type(sample_range(rng(), 1, 2.0)) is float


@pytest.mark.parametrize("lo, hi", [(5, 5), (6, 2), (1.0, 1.0)])
def test_sample_range_empty(lo, hi):
    with pytest.raises(GeneratorError) as err:
        sample_range(rng(), lo, hi)
    assert str(err.value) == (f"the range {lo} .. {hi} is empty; a range `lo .. hi` includes lo and "
                              f"excludes hi, so lo must be below hi")


def test_sample_choice():
    values = {sample_choice(rng(i), (64, 128)) for i in range(100)}
    assert values == {64, 128}
    assert type(sample_choice(rng(), (np.int64(3),))) is int
    with pytest.raises(GeneratorError) as err:
        sample_choice(rng(), ())
    assert str(err.value) == "the set of choices is empty; list at least one value"


# ---- markov_onoff and distinct ----

def test_markov_onoff_switches_at_the_given_rates_from_the_stationary_start():
    x = GENERATORS["markov_onoff"](rng(), (20000, 8), on_to_off=0.1, off_to_on=0.3)
    assert set(np.unique(x).tolist()) <= {0.0, 1.0}
    was_on, was_off = x[:-1] == 1, x[:-1] == 0
    assert abs((was_on & (x[1:] == 0)).sum() / was_on.sum() - 0.1) < 0.01
    assert abs((was_off & (x[1:] == 1)).sum() / was_off.sum() - 0.3) < 0.01
    assert abs(x.mean() - 0.75) < 0.02      # stationary from the start: 0.3 / (0.1 + 0.3)


def test_markov_onoff_edge_rates():
    never = GENERATORS["markov_onoff"](rng(), (50, 3), on_to_off=0.0, off_to_on=0.0)
    assert (never == 1).all()                                   # never switching: starts and stays on
    flips = GENERATORS["markov_onoff"](rng(), (6, 4), on_to_off=1.0, off_to_on=1.0)
    assert (flips[1:] == 1 - flips[:-1]).all()
    assert GENERATORS["markov_onoff"](rng(), (0, 3)).shape == (0, 3)
    with pytest.raises(GeneratorError):
        GENERATORS["markov_onoff"](rng(), (5,), on_to_off=1.5)


def test_distinct_draws_without_replacement():
    perms = GENERATORS["distinct"](rng(), (200, 6), low=0, high=6)
    assert (np.sort(perms, axis=1) == np.arange(6)).all()        # every row a permutation
    assert len({tuple(r) for r in perms.tolist()}) > 150          # in many orders
    picks = GENERATORS["distinct"](rng(), (2, 300, 3), low=10, high=15)
    assert picks.min() == 10 and picks.max() == 14
    assert all(len(set(row)) == 3 for row in picks.reshape(-1, 3).tolist())
    assert np.array_equal(GENERATORS["distinct"](rng(7), (4, 3), low=0, high=50),
                          GENERATORS["distinct"](rng(7), (4, 3), low=0, high=50))


def test_distinct_row_by_row_past_the_vectorized_size(monkeypatch):
    from adrs_spec.workloads import generators

    monkeypatch.setattr(generators, "VECTORIZED_KEYS", 10)
    rows = GENERATORS["distinct"](rng(), (5, 4), low=0, high=100)
    assert all(len(set(r)) == 4 for r in rows.tolist()) and rows.min() >= 0 and rows.max() < 100


@pytest.mark.parametrize("shape, params, message", [
    ((3, 7), {"low": 0, "high": 5}, "`distinct` draws 7 distinct integers along the last axis, but 0 .. 5 holds "
                                    "only 5; widen the range or shorten the axis"),
    ((3,), {"low": 4, "high": 4}, "`low` = 4 must be below `high` = 4 (the integers low .. high - 1 are drawn)"),
])
def test_distinct_refuses_what_it_cannot_draw(shape, params, message):
    with pytest.raises(GeneratorError) as err:
        GENERATORS["distinct"](rng(), shape, **params)
    assert str(err.value) == message
