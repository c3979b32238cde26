import numpy as np
import a_module_that_does_not_exist  # noqa: F401


def place(weight, replicas):
    return np.zeros(3)
