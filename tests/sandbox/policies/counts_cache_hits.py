"""Memoizes its answers by input content and reports, in phy2log's first row: how many of its
inputs it had seen before (cache hits, counted over every execution so far, the untimed
warm-up included), the number of this execution (1 for the first), and the first 6 bytes of
a digest of this input. `place_once` fails on any input it has seen before."""
import hashlib

import numpy as np

CACHE = {}
EXECUTIONS = [0]


def _digest(weight) -> int:
    return int.from_bytes(hashlib.sha1(np.ascontiguousarray(weight).tobytes()).digest()[:6], "little")


def place(weight, replicas):
    layers, experts = weight.shape
    EXECUTIONS[0] += 1
    key = _digest(weight)
    CACHE[key] = CACHE.get(key, 0) + 1
    report = np.zeros((layers, replicas), np.int64)
    report[0, :3] = sum(n - 1 for n in CACHE.values()), EXECUTIONS[0], key
    return report, np.ones((layers, experts), np.int64), weight


def place_once(weight, replicas):
    if _digest(weight) in CACHE:
        raise RuntimeError("this input came before")
    return place(weight, replicas)
