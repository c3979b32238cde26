"""Leaves two processes behind that would sleep for a minute: a forked child (same process
group) and a double-forked daemon (setsid, then its parent exits, so it is orphaned). Returns
their pids in phy2log[0, 0] and phy2log[0, 1]."""
import os
import time

import numpy as np


def _child_sleeping() -> int:
    pid = os.fork()
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    return pid


def _daemon_sleeping() -> int:
    read_end, write_end = os.pipe()
    if os.fork() == 0:
        os.setsid()
        grandchild = os.fork()
        if grandchild == 0:
            time.sleep(60)
            os._exit(0)
        os.write(write_end, str(grandchild).encode())
        os._exit(0)
    os.close(write_end)
    pid = int(os.read(read_end, 32))
    os.close(read_end)
    return pid


PIDS = []


def place(weight, replicas):
    if not PIDS:                      # the first call (the warm-up) starts them
        PIDS.extend([_child_sleeping(), _daemon_sleeping()])
    layers, experts = weight.shape
    phy2log = np.zeros((layers, replicas), np.int64)
    phy2log[0, :2] = PIDS
    logcnt = np.ones((layers, experts), np.int64)
    return phy2log, logcnt, weight
