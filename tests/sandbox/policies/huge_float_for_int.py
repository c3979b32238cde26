"""Returns 1e300 in an int output (cast blindly, it would read as -9223372036854775808)."""
import numpy as np


def place(weight, replicas):
    layers, experts = weight.shape
    phy2log = np.zeros((layers, replicas))
    phy2log[1, 4] = 1e300
    return phy2log, np.ones((layers, experts), np.int64), weight
