import numpy as np


def place(weight, replicas):
    layers, experts = weight.shape
    share = weight.copy()
    share[1, 2] = np.nan
    phy2log = np.tile(np.arange(replicas) % experts, (layers, 1))
    return phy2log, np.ones((layers, experts), np.int64), share
