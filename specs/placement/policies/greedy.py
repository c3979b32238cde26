"""A greedy placement that keeps the worst KV-cache pressure low.

KVPR(g) = demand on g / (memory - size on g), with demand = req_rate / slo and 80 GB
per GPU. Two greedy passes, the better one wins:

1. models by demand descending, each to the GPU whose pressure after adding it is
   smallest among the GPUs it fits in;
2. a bisection on a target pressure K: KVPR(g) <= K is the linear budget
   sum(demand + K * size) <= 80 * K, so for a fixed K placing the models is bin packing
   with item weights demand + K * size, done first-fit decreasing. The smallest K that
   packs gives the placement.
"""

from __future__ import annotations

import numpy as np

MEMORY_GB = 80.0
BISECTION_STEPS = 40


def max_kvpr(gpu_of: np.ndarray, size: np.ndarray, demand: np.ndarray, gpus: int) -> float:
    """The objective: the worst GPU's KV-cache pressure (1e6 on a full or overfull GPU)."""
    used = np.bincount(gpu_of, weights=size, minlength=gpus)
    pressure = np.bincount(gpu_of, weights=demand, minlength=gpus)
    free = MEMORY_GB - used
    return float(np.where(free > 0, pressure / np.where(free > 0, free, 1.0), 1e6).max())


def _least_pressure(size: np.ndarray, demand: np.ndarray, gpus: int) -> np.ndarray:
    """Pass 1: by demand (then size) descending, each to the GPU left with the least pressure."""
    used, demand_on = np.zeros(gpus), np.zeros(gpus)
    gpu_of = np.zeros(len(size), dtype=np.int64)
    for model in np.lexsort((-size, -demand)):
        free = MEMORY_GB - used - size[model]
        after = np.where(free > 0, (demand_on + demand[model]) / np.where(free > 0, free, 1.0), np.inf)
        # Fits nowhere with room to spare: the GPU with the most free memory (the
        # memory invariant then reports it if it truly does not fit).
        target = int(np.argmin(after)) if np.isfinite(after).any() else int(np.argmin(used))
        gpu_of[model] = target
        used[target] += size[model]
        demand_on[target] += demand[model]
    return gpu_of


def _pack_under(target: float, size: np.ndarray, demand: np.ndarray, gpus: int) -> np.ndarray | None:
    """Pass 2 for one K: first-fit decreasing on demand + K * size; None if it does not pack."""
    weight = demand + target * size
    load, used = np.zeros(gpus), np.zeros(gpus)
    gpu_of = np.zeros(len(size), dtype=np.int64)
    for model in np.argsort(-weight, kind="stable"):
        fits = (load + weight[model] <= target * MEMORY_GB) & (used + size[model] < MEMORY_GB)
        if not fits.any():
            return None
        gpu = int(np.argmax(fits))
        gpu_of[model] = gpu
        load[gpu] += weight[model]
        used[gpu] += size[model]
    return gpu_of


def place(size: np.ndarray, req_rate: np.ndarray, slo: np.ndarray, gpus: int) -> np.ndarray:
    """Returns gpu_of [models], int64 values in [0, gpus)."""
    gpus = int(gpus)
    size = np.asarray(size, dtype=np.float64)
    demand = np.asarray(req_rate, dtype=np.float64) / np.asarray(slo, dtype=np.float64)
    best = _least_pressure(size, demand, gpus)
    high = max_kvpr(best, size, demand, gpus)
    free_total = gpus * MEMORY_GB - size.sum()
    low = demand.sum() / free_total if free_total > 0 else high
    for _ in range(BISECTION_STEPS if low < high else 0):
        middle = 0.5 * (low + high)
        packed = _pack_under(middle, size, demand, gpus)
        if packed is None:
            low = middle
            continue
        high = middle
        if max_kvpr(packed, size, demand, gpus) < max_kvpr(best, size, demand, gpus):
            best = packed
    return best
