import numpy as np


def place(weight, replicas):
    layers, experts = weight.shape
    return np.zeros((layers, replicas - 1), np.int64), np.ones((layers, experts), np.int64), weight
