import numpy as np


def place(weight, replicas):
    layers, experts = weight.shape
    return np.full((layers, replicas), 0.5), np.ones((layers, experts), np.int64), weight
