"""Prints far more than a pipe buffer holds, before returning or failing."""
import numpy as np


def place(weight, replicas):
    for line in range(20_000):
        print(f"progress line {line}")
    layers, experts = weight.shape
    phy2log = np.tile(np.arange(replicas) % experts, (layers, 1))
    logcnt = np.tile(np.bincount(np.arange(replicas) % experts), (layers, 1))
    return phy2log, logcnt, weight / logcnt


def place_then_fail(weight, replicas):
    for line in range(20_000):
        print(f"progress line {line}")
    raise RuntimeError("gave up after printing")
