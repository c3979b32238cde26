"""The shipped placement baselines: round-robin and the KV-cache-pressure greedy."""
import importlib.util
import os

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MEMORY = 80.0


def load(relative_path: str):
    name = "_loaded_" + relative_path.replace("/", "_").removesuffix(".py")
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, relative_path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


round_robin = load("specs/placement/policies/round_robin.py")
greedy = load("specs/placement/policies/greedy.py")


def scenario(seed: int):
    """As the public test generation: 5..9 GPUs, twice as many models, integer features."""
    rng = np.random.default_rng(seed)
    gpus = int(rng.integers(5, 10))
    models = 2 * gpus
    size = rng.integers(10, 30, models).astype(np.float64)
    req_rate = rng.integers(1, 10, models).astype(np.float64)
    slo = rng.integers(5, 10, models).astype(np.float64)
    return size, req_rate, slo, gpus


def max_kvpr(gpu_of, size, req_rate, slo, gpus):
    """Computed here independently of the policies."""
    worst = 0.0
    for gpu in range(gpus):
        on = gpu_of == gpu
        used = size[on].sum()
        worst = max(worst, (req_rate[on] / slo[on]).sum() / (MEMORY - used) if used < MEMORY else 1e6)
    return worst


def assert_valid(gpu_of, size, gpus):
    assert gpu_of.dtype == np.int64 and gpu_of.shape == size.shape
    assert ((0 <= gpu_of) & (gpu_of < gpus)).all()
    assert (np.bincount(gpu_of, weights=size, minlength=gpus) <= MEMORY).all()


def test_round_robin_exact():
    gpu_of = round_robin.place(np.full(5, 10.0), np.ones(5), np.ones(5), 3)
    assert gpu_of.tolist() == [0, 1, 2, 0, 1] and gpu_of.dtype == np.int64


def test_greedy_hand_worked():
    # Demands 6, 3, 2 (slo 1). Model 0 -> GPU 0 (6/50); model 1 -> GPU 1 (3/50 < 9/20);
    # model 2 -> GPU 1 (5/40 < 8/40). Max KVPR 0.125, which no placement beats.
    size, req_rate, slo = np.array([30.0, 30, 10]), np.array([6.0, 3, 2]), np.ones(3)
    gpu_of = greedy.place(size, req_rate, slo, 2)
    assert gpu_of.tolist() == [0, 1, 1]
    assert max_kvpr(gpu_of, size, req_rate, slo, 2) == pytest.approx(0.125)


def test_greedy_respects_memory_where_round_robin_does_not():
    # Round-robin puts both 50 GB models on GPU 0; the greedy must split them.
    size, req_rate, slo = np.array([50.0, 10, 50, 10]), np.ones(4), np.ones(4)
    assert np.bincount(round_robin.place(size, req_rate, slo, 2), weights=size)[0] > MEMORY
    gpu_of = greedy.place(size, req_rate, slo, 2)
    assert_valid(gpu_of, size, 2)
    assert gpu_of[0] != gpu_of[2]


@pytest.mark.parametrize("seed", range(21))
def test_greedy_valid_and_no_worse_than_round_robin(seed):
    size, req_rate, slo, gpus = scenario(seed)
    gpu_of = greedy.place(size, req_rate, slo, gpus)
    assert_valid(gpu_of, size, gpus)
    assert_valid(round_robin.place(size, req_rate, slo, gpus), size, gpus)
    baseline = max_kvpr(round_robin.place(size, req_rate, slo, gpus), size, req_rate, slo, gpus)
    assert max_kvpr(gpu_of, size, req_rate, slo, gpus) <= baseline
    lower_bound = (req_rate / slo).sum() / (gpus * MEMORY - size.sum())
    assert max_kvpr(gpu_of, size, req_rate, slo, gpus) >= lower_bound - 1e-12


def test_greedy_beats_round_robin_on_average():
    cases = [scenario(seed) for seed in range(21)]
    ours = np.mean([max_kvpr(greedy.place(*c), *c) for c in cases])
    baseline = np.mean([max_kvpr(round_robin.place(*c), *c) for c in cases])
    assert ours < 0.8 * baseline
