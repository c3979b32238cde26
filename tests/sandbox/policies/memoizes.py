"""Pays 30 ms on inputs it has not seen (by object identity or by content), nothing on
inputs it has: the cache that timed repeats on identical inputs would reward."""
import hashlib
import time

import numpy as np

CACHE = {}


def compute(weight, replicas):
    layers, experts = weight.shape
    heaviest = np.argsort(-weight, axis=1, kind="stable")[:, :replicas - experts]
    phy2log = np.concatenate([np.tile(np.arange(experts), (layers, 1)), heaviest], axis=1)
    logcnt = np.stack([np.bincount(row, minlength=experts) for row in phy2log])
    return phy2log, logcnt, weight / logcnt


def place(weight, replicas):
    by_id = CACHE.get(("id", id(weight)))
    if by_id is not None and by_id[0] is weight:        # the same object as before (kept alive here)
        return by_id[1]
    digest = hashlib.sha1(np.ascontiguousarray(weight).tobytes()).hexdigest()
    if ("content", digest) in CACHE:
        return CACHE[("content", digest)]
    time.sleep(0.03)
    result = compute(weight, replicas)
    CACHE[("id", id(weight))] = (weight, result)
    CACHE[("content", digest)] = result
    return result
