"""Tries to signal the caller (`caller`) and the sandbox worker (its parent), and to lift its
own memory limit. Probes with signal 0 first and sends nothing harmful if that works (so a
broken sandbox fails the test instead of killing it). phy2log, first row: the errno of
kill(caller, 0), kill(caller, SIGSTOP), kill(caller, SIGKILL), kill(worker, 0),
kill(worker, SIGKILL), raising RLIMIT_AS (0 if it worked, -1 if not tried)."""
import os
import resource
import signal

import numpy as np


def _errno_of(action):
    try:
        action()
    except OSError as error:
        return error.errno
    except ValueError:            # setrlimit's "not allowed to raise maximum limit"
        return 1
    return 0


def place(weight, replicas, caller):
    layers, experts = weight.shape
    worker = os.getppid()
    codes = [-1] * 6
    codes[0] = _errno_of(lambda: os.kill(caller, 0))
    if codes[0]:
        codes[1] = _errno_of(lambda: os.kill(caller, signal.SIGSTOP))
        codes[2] = _errno_of(lambda: os.kill(caller, signal.SIGKILL))
    codes[3] = _errno_of(lambda: os.kill(worker, 0))
    if codes[3]:
        codes[4] = _errno_of(lambda: os.kill(worker, signal.SIGKILL))
    codes[5] = _errno_of(lambda: resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY,) * 2))
    report = np.zeros((layers, replicas), np.int64)
    report[0, :] = codes
    return report, np.ones((layers, experts), np.int64), weight
