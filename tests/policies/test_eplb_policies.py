"""The shipped EPLB baselines and the hand-written reference evaluators."""
import importlib.util
import os

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load(relative_path: str):
    """Import a file that is not part of a package (policies, bench scripts)."""
    name = "_loaded_" + relative_path.replace("/", "_").removesuffix(".py")
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, relative_path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ref = load("bench/eplb_reference.py")
round_robin = load("specs/eplb/policies/round_robin.py")

SMALL = dict(L=3, E=16, R=24, G=4, N=2, P=4)
LEADERBOARD = dict(L=58, E=256, R=288, G=8, N=4, P=32)


@pytest.fixture(scope="module")
def deepseek():
    pytest.importorskip("torch")
    return load("specs/eplb/policies/deepseek.py")


def zipf_load(rng, layers: int, experts: int, s: float = 1.0, tokens: int = 819200):
    """Per-layer Zipf popularity over a random permutation of experts, multinomial tokens."""
    popularity = 1.0 / np.arange(1, experts + 1) ** s
    popularity /= popularity.sum()
    return np.stack([rng.multinomial(tokens, popularity[rng.permutation(experts)])
                     for _ in range(layers)]).astype(np.float64)


def own_checks(weight, phy2log, log2phy, logcnt, R, P):
    """Every invariant of a valid output, checked directly (independent of the evaluators)."""
    L, E = weight.shape
    assert phy2log.dtype == log2phy.dtype == logcnt.dtype == np.int64
    assert phy2log.shape == (L, R) and logcnt.shape == (L, E) and log2phy.shape == (L, E, R - E + 1)
    assert ((0 <= phy2log) & (phy2log < E)).all()
    for layer in range(L):
        assert (np.bincount(phy2log[layer], minlength=E) == logcnt[layer]).all()
        listed = []
        for expert in range(E):
            count = logcnt[layer, expert]
            assert count >= 1
            slots = log2phy[layer, expert]
            assert (slots[count:] == -1).all()
            assert (phy2log[layer, slots[:count]] == expert).all()
            listed.extend(slots[:count].tolist())
        assert sorted(listed) == list(range(R))


def run_deepseek(deepseek, weight, R, G, N, P):
    import torch
    outputs = deepseek.rebalance_experts(torch.tensor(weight), R, G, N, P)
    assert all(o.dtype == torch.int64 for o in outputs)
    return tuple(o.numpy() for o in outputs)


# ------------------------------------------------------------------ DeepSeek
def test_deepseek_hand_worked_single_node(deepseek):
    # Extras go to expert 0 (10) then expert 2 (6 > 5); replicas (5,2,3,4,5,3) are packed
    # heaviest first onto 2 GPUs of 3 slots: GPU 0 gets e0, e3, e1; GPU 1 gets e0, e2, e2.
    phy2log, log2phy, logcnt = run_deepseek(deepseek, np.array([[10.0, 2, 6, 4]]), 6, 2, 1, 2)
    assert phy2log.tolist() == [[0, 3, 1, 0, 2, 2]]
    assert logcnt.tolist() == [[2, 1, 2, 1]]
    assert log2phy.tolist() == [[[0, 3, -1], [2, -1, -1], [4, 5, -1], [1, -1, -1]]]


def test_deepseek_hand_worked_two_nodes(deepseek):
    # Group {0,1} on node 0, group {2,3} on node 1; each node gives its one extra replica
    # to its hottest expert, and its GPU takes the replicas heaviest first.
    phy2log, log2phy, logcnt = run_deepseek(deepseek, np.array([[10.0, 2, 6, 4]]), 6, 2, 2, 2)
    assert phy2log.tolist() == [[0, 0, 1, 3, 2, 2]]
    assert logcnt.tolist() == [[2, 1, 2, 1]]
    assert log2phy.tolist() == [[[0, 1, -1], [2, -1, -1], [4, 5, -1], [3, -1, -1]]]


def test_deepseek_global_when_groups_do_not_split_over_nodes(deepseek):
    # G = 1, N = 2: 1 % 2 != 0, so the global variant (G = N = 1) is used.
    weight = np.array([[10.0, 2, 6, 4]])
    assert run_deepseek(deepseek, weight, 6, 1, 2, 2)[0].tolist() == [[0, 3, 1, 0, 2, 2]]


def test_deepseek_packs_groups_onto_nodes(deepseek):
    # Group loads 9, 7, 5, 3: 9 -> node 0, 7 -> node 1, 5 -> node 1 (7 < 9), 3 -> node 0.
    weight = np.array([[5.0, 4, 4, 3, 3, 2, 2, 1]])
    phy2log, _, logcnt = run_deepseek(deepseek, weight, 8, 4, 2, 2)
    assert sorted(phy2log[0, :4].tolist()) == [0, 1, 6, 7]
    assert sorted(phy2log[0, 4:].tolist()) == [2, 3, 4, 5]
    assert (logcnt == 1).all()


def test_deepseek_accepts_int_weights(deepseek):
    int_out = run_deepseek(deepseek, np.array([[10, 2, 6, 4]]), 6, 2, 1, 2)
    float_out = run_deepseek(deepseek, np.array([[10.0, 2, 6, 4]]), 6, 2, 1, 2)
    assert all((a == b).all() for a, b in zip(int_out, float_out))


@pytest.mark.parametrize("shape", [SMALL, LEADERBOARD, dict(SMALL, N=3, P=3), dict(SMALL, G=1)],
                         ids=["small", "leaderboard", "global-small", "global-one-group"])
def test_deepseek_valid(deepseek, shape):
    L, E, R, G, N, P = (shape[k] for k in "LERGNP")
    weight = zipf_load(np.random.default_rng(1), L, E)
    outputs = run_deepseek(deepseek, weight, R, G, N, P)
    own_checks(weight, *outputs, R, P)
    valid, balance = ref.numpy_evaluate(weight[None], *(o[None] for o in outputs), P)
    assert valid.tolist() == [True] and 0 < balance[0] <= 1


def test_deepseek_hierarchical_keeps_replicas_in_one_node(deepseek):
    L, E, R, G, N, P = (LEADERBOARD[k] for k in "LERGNP")
    phy2log, _, _ = run_deepseek(deepseek, zipf_load(np.random.default_rng(2), 4, E), R, G, N, P)
    node_of_slot = np.arange(R) // (R // N)
    for layer in phy2log:
        nodes_per_expert = [set(node_of_slot[layer == e]) for e in range(E)]
        assert all(len(nodes) == 1 for nodes in nodes_per_expert)


def test_deepseek_rejects_bad_shapes(deepseek):
    import torch
    with pytest.raises(AssertionError, match="experts .* multiple of groups"):
        deepseek.rebalance_experts(torch.ones(1, 6), 8, 4, 1, 2)
    with pytest.raises(AssertionError, match="at least experts"):
        deepseek.rebalance_experts(torch.ones(1, 8), 4, 2, 1, 2)


# ------------------------------------------------------------------ round robin
def test_round_robin_exact():
    phy2log, log2phy, logcnt = round_robin.rebalance_experts(np.ones((2, 4)), 7, 1, 1, 1)
    assert phy2log.tolist() == [[0, 0, 1, 1, 2, 2, 3]] * 2
    assert logcnt.tolist() == [[2, 2, 2, 1]] * 2
    assert log2phy[0].tolist() == [[0, 1, -1, -1], [2, 3, -1, -1], [4, 5, -1, -1], [6, -1, -1, -1]]


def test_round_robin_wraps_around():
    _, _, logcnt = round_robin.rebalance_experts(np.ones((1, 3)), 11, 1, 1, 1)
    assert logcnt.tolist() == [[4, 4, 3]]


@pytest.mark.parametrize("shape", [SMALL, LEADERBOARD], ids=["small", "leaderboard"])
def test_round_robin_valid(shape):
    L, E, R, G, N, P = (shape[k] for k in "LERGNP")
    weight = zipf_load(np.random.default_rng(3), L, E)
    outputs = round_robin.rebalance_experts(weight, R, G, N, P)
    own_checks(weight, *outputs, R, P)
    assert ref.numpy_evaluate(weight[None], *(o[None] for o in outputs), P)[0].tolist() == [True]


# ------------------------------------------------------------------ evaluators
def test_evaluators_exact_balance():
    # Layer 0: GPU loads 8, 4. Layer 1: slot loads 3, 1/3, 1/3, 1/3 -> GPU loads 10/3, 2/3.
    # balance = (6 + 2) / (8 + 10/3) = 12/17.
    next_load = np.array([[8.0, 4.0], [3.0, 1.0]])
    phy2log = np.array([[0, 0, 1, 1], [0, 1, 1, 1]])
    logcnt = np.array([[2, 2], [1, 3]])
    log2phy = np.array([[[0, 1, -1], [2, 3, -1]], [[0, -1, -1], [1, 2, 3]]])
    expected = pytest.approx(12 / 17, abs=1e-12)
    assert ref.loop_evaluate(next_load, phy2log, log2phy, logcnt, 2) == (True, expected)
    valid, balance = ref.numpy_evaluate(next_load[None], phy2log[None], log2phy[None], logcnt[None], 2)
    assert valid.tolist() == [True] and balance[0] == expected


def test_evaluators_reject_slots_that_do_not_split_over_gpus():
    phy2log, log2phy, logcnt = ref.random_valid_outputs(np.random.default_rng(0), 1, 4, 6, 2, batch=1)
    with pytest.raises(ValueError, match="6 slots do not split evenly over 4 GPUs"):
        ref.numpy_evaluate(np.ones((1, 1, 4)), phy2log, log2phy, logcnt, 4)
    with pytest.raises(ValueError, match="6 slots do not split evenly over 4 GPUs"):
        ref.loop_evaluate(np.ones((1, 4)), phy2log[0], log2phy[0], logcnt[0], 4)


def test_random_valid_outputs_are_valid():
    rng = np.random.default_rng(4)
    phy2log, log2phy, logcnt = ref.random_valid_outputs(rng, 3, 16, 24, 4, batch=5)
    assert phy2log.shape == (5, 3, 24) and log2phy.shape == (5, 3, 16, 9) and logcnt.shape == (5, 3, 16)
    assert (logcnt.sum(-1) == 24).all() and logcnt.max() > 1
    for b in range(5):
        own_checks(np.ones((3, 16)), phy2log[b], log2phy[b], logcnt[b], 24, 4)


@pytest.mark.parametrize("shape", [dict(L=3, E=16, R=24, P=4), dict(L=5, E=256, R=288, P=32),
                                   dict(L=2, E=8, R=8, P=2)], ids=["small", "leaderboard", "no-extra"])
def test_evaluators_agree(shape):
    rng = np.random.default_rng(5)
    L, E, R, P = (shape[k] for k in "LERP")
    outputs = ref.random_valid_outputs(rng, L, E, R, P, batch=6)
    next_load = zipf_load(rng, 6 * L, E).reshape(6, L, E)
    valid, balance = ref.numpy_evaluate(next_load, *outputs, P)
    assert valid.all()
    for b in range(6):
        loop_valid, loop_balance = ref.loop_evaluate(next_load[b], *(o[b] for o in outputs), P)
        assert loop_valid and abs(loop_balance - balance[b]) <= 1e-9


def _drop_expert(p2l, l2p, cnt):
    """The reward hack: expert 3 gets no replica, its slots go to expert 0 (maps kept consistent)."""
    p2l[0][p2l[0] == 3] = 0
    return _rebuild(p2l, l2p, cnt)


def _rebuild(p2l, l2p, cnt):
    """log2phy and logcnt rebuilt from phy2log, consistently (slots ascending)."""
    for layer in range(p2l.shape[0]):
        for expert in range(cnt.shape[1]):
            slots = np.flatnonzero(p2l[layer] == expert)
            cnt[layer, expert] = len(slots)
            l2p[layer, expert] = -1
            l2p[layer, expert, :len(slots)] = slots
    return p2l, l2p, cnt


def _set(array_index, position, value):
    def corrupt(p2l, l2p, cnt):
        (p2l, l2p, cnt)[array_index][position] = value
        return p2l, l2p, cnt
    return corrupt


def _first_with_two_copies(p2l, l2p, cnt):
    layer, expert = np.argwhere(cnt >= 2)[0]
    return layer, expert


def _duplicate_listing(p2l, l2p, cnt):
    """An expert with two replicas lists its first slot twice: every entry points at it."""
    layer, expert = _first_with_two_copies(p2l, l2p, cnt)
    l2p[layer, expert, 1] = l2p[layer, expert, 0]
    return p2l, l2p, cnt


def _wrong_slot(p2l, l2p, cnt):
    """A listed slot that holds another expert."""
    l2p[0, 0, 0] = np.flatnonzero(p2l[0] != 0)[0]
    return p2l, l2p, cnt


def _swap_between_experts(p2l, l2p, cnt):
    """Two experts list each other's slots: every slot still listed once, counts still right."""
    l2p[0, [0, 1], 0] = l2p[0, [1, 0], 0]
    return p2l, l2p, cnt


def _count_too_high(p2l, l2p, cnt):
    cnt[0, 0] += 1
    cnt[0, 1] -= 1 if cnt[0, 1] > 1 else 0
    return p2l, l2p, cnt


CORRUPTIONS = {
    "dropped_expert": _drop_expert,
    "id_too_large": _set(0, (1, 5), 16),
    "id_negative": _set(0, (2, 0), -1),
    "count_mismatch": _count_too_high,
    "zero_count": _set(2, (2, 4), 0),
    "listed_slot_minus_one": _set(1, (0, 0, 0), -1),
    "listed_slot_too_large": _set(1, (0, 0, 0), 24),
    "listed_slot_wrong_expert": _wrong_slot,
    "listed_twice": _duplicate_listing,
    "listed_slots_swapped": _swap_between_experts,
    "padding_not_minus_one": _set(1, (2, 7, 8), 3),
}


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_evaluators_flag_broken_invariants(name):
    rng = np.random.default_rng(6)
    phy2log, log2phy, logcnt = ref.random_valid_outputs(rng, 3, 16, 24, 4, batch=3)
    next_load = zipf_load(rng, 9, 16).reshape(3, 3, 16)
    broken = CORRUPTIONS[name](phy2log[1].copy(), log2phy[1].copy(), logcnt[1].copy())
    for array, new in zip((phy2log, log2phy, logcnt), broken):
        array[1] = new
    valid, balance = ref.numpy_evaluate(next_load, phy2log, log2phy, logcnt, 4)
    assert valid.tolist() == [True, False, True]
    assert np.isnan(balance[1]) and not np.isnan(balance[[0, 2]]).any()
    loop = [ref.loop_evaluate(next_load[b], phy2log[b], log2phy[b], logcnt[b], 4)[0] for b in range(3)]
    assert loop == [True, False, True]


def test_the_leaderboard_algorithm_scores_valid_placements_as_the_loop_and_misses_what_it_does_not_check():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    phy2log, log2phy, logcnt = ref.random_valid_outputs(rng, 3, 16, 24, 4, batch=2)
    next_load = zipf_load(rng, 6, 16).reshape(2, 3, 16)
    for b in range(2):
        as_torch = [torch.as_tensor(a[b]) for a in (next_load.astype(np.int64), phy2log, log2phy, logcnt)]
        valid, balance = ref.public_evaluate(*as_torch, 4)
        assert valid and balance == pytest.approx(ref.loop_evaluate(next_load[b], phy2log[b], log2phy[b],
                                                                    logcnt[b], 4)[1], rel=1e-6)
    # phy2log no longer matches log2phy: the spec (and the loop) reject it, this algorithm does not look
    first, other = 0, int(np.argmax(phy2log[0, 0] != phy2log[0, 0, 0]))
    assert phy2log[0, 0, first] != phy2log[0, 0, other]
    phy2log[0, 0, [first, other]] = phy2log[0, 0, [other, first]]
    as_torch = [torch.as_tensor(a[0]) for a in (next_load.astype(np.int64), phy2log, log2phy, logcnt)]
    assert ref.public_evaluate(*as_torch, 4)[0] is True
    assert ref.loop_evaluate(next_load[0], phy2log[0], log2phy[0], logcnt[0], 4)[0] is False


def test_numpy_evaluate_in_chunks_matches_one_pass(monkeypatch):
    rng = np.random.default_rng(10)
    phy2log, log2phy, logcnt = ref.random_valid_outputs(rng, 3, 16, 24, 4, batch=5)
    log2phy[3, 1, 2, 8] = 0  # one invalid instance in the middle
    next_load = zipf_load(rng, 15, 16).reshape(5, 3, 16)
    whole = ref.numpy_evaluate(next_load, phy2log, log2phy, logcnt, 4)
    monkeypatch.setattr(ref, "CHUNK_ENTRIES", 2 * log2phy[0].size)  # chunks of 2 instances
    chunked = ref.numpy_evaluate(next_load, phy2log, log2phy, logcnt, 4)
    assert whole[0].tolist() == chunked[0].tolist() == [True, True, True, False, True]
    np.testing.assert_array_equal(whole[1], chunked[1])


def test_evaluators_flag_dropped_idle_expert():
    # Expert 3 has no replica and no load in the scored window: tokens are conserved,
    # only 'every expert placed' rejects it (its load in the next window is unknown).
    rng = np.random.default_rng(9)
    phy2log, log2phy, logcnt = ref.random_valid_outputs(rng, 3, 16, 24, 4, batch=2)
    _drop_expert(phy2log[1], log2phy[1], logcnt[1])
    next_load = zipf_load(rng, 6, 16).reshape(2, 3, 16)
    next_load[1, 0, 3] = 0.0
    assert logcnt[1, 0, 3] == 0
    assert ref.numpy_evaluate(next_load, phy2log, log2phy, logcnt, 4)[0].tolist() == [True, False]
    assert ref.loop_evaluate(next_load[1], phy2log[1], log2phy[1], logcnt[1], 4)[0] is False


def test_evaluators_flag_counts_wider_than_log2phy():
    # A valid placement whose log2phy is cut to width 2: an expert with 3 replicas cannot be listed.
    next_load = np.array([[3.0, 1.0]])
    phy2log, logcnt = np.array([[0, 0, 0, 1]]), np.array([[3, 1]])
    log2phy = np.array([[[0, 1], [3, -1]]])
    assert ref.loop_evaluate(next_load, phy2log, log2phy, logcnt, 2)[0] is False
    batch = (next_load[None], phy2log[None], log2phy[None], logcnt[None])
    assert ref.numpy_evaluate(*batch, 2)[0].tolist() == [False]


def test_evaluators_padding_errors_that_cancel_across_instances():
    # One instance lists a -1 (one -1 too many), another pads with 5 (one -1 too few):
    # a batch-wide count of -1 balances out; each instance must still be flagged.
    rng = np.random.default_rng(7)
    phy2log, log2phy, logcnt = ref.random_valid_outputs(rng, 2, 16, 24, 4, batch=3)
    log2phy[0, 0, 0, 0] = -1
    log2phy[1, 1, 2, 8] = 5
    next_load = np.ones((3, 2, 16))
    assert ref.numpy_evaluate(next_load, phy2log, log2phy, logcnt, 4)[0].tolist() == [False, False, True]


def test_evaluators_flag_lost_tokens():
    # Conservation fails when the scored load itself is not finite: nothing can be placed.
    rng = np.random.default_rng(8)
    phy2log, log2phy, logcnt = ref.random_valid_outputs(rng, 2, 16, 24, 4, batch=2)
    next_load = np.ones((2, 2, 16))
    next_load[1, 1, 3] = np.nan
    assert ref.numpy_evaluate(next_load, phy2log, log2phy, logcnt, 4)[0].tolist() == [True, False]
    assert ref.loop_evaluate(next_load[1], phy2log[1], log2phy[1], logcnt[1], 4)[0] is False
