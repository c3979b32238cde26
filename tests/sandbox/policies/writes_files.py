"""Writes a cache file and a folder in its working directory, and files in HOME and TMPDIR."""
import os
import tempfile

import numpy as np


def place(weight, replicas):
    layers, experts = weight.shape
    with open("cache.npy", "wb") as handle:
        np.save(handle, weight)
    os.makedirs("results", exist_ok=True)
    with open(os.path.join("results", "run.txt"), "w") as handle:
        handle.write("done")
    with open(os.path.join(os.environ["HOME"], ".policy-cache"), "w") as handle:
        handle.write("kept?")
    with tempfile.NamedTemporaryFile(delete=False) as handle:
        handle.write(b"scratch")
    phy2log = np.tile(np.arange(replicas) % experts, (layers, 1))
    logcnt = np.tile(np.bincount(np.arange(replicas) % experts), (layers, 1))
    return phy2log, logcnt, weight / logcnt
