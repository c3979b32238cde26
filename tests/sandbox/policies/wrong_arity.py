import numpy as np


def normalise(x):
    return x


def place(weight):
    return np.zeros(3)
