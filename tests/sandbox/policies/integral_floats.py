import numpy as np


def place(weight, replicas):
    """Integer outputs computed as floats with integral values: accepted and cast."""
    layers, experts = weight.shape
    phy2log = np.tile(np.arange(replicas) % experts, (layers, 1)).astype(np.float64)
    logcnt = np.tile(np.bincount(np.arange(replicas) % experts), (layers, 1)).astype(np.float32)
    return phy2log, logcnt, weight / logcnt
