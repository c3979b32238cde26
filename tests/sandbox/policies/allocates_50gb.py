import numpy as np


def place(weight, replicas):
    block = np.ones(50 * 10**9, dtype=np.uint8)
    return block
