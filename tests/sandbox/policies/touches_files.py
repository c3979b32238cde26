"""Tries to change, delete, read and add files next to `target` (a path the test owns).
Reports in phy2log, row by row, the errno of each attempt (0 if it worked): read, append,
truncate, chmod, set times, delete, rename, create a sibling, make a folder, symlink, hard
link."""
import os

import numpy as np


def _errno_of(action):
    try:
        action()
    except OSError as error:
        return error.errno
    return 0


def _write(path, mode):
    with open(path, mode) as handle:
        handle.write("invariant gone: true\n")


def place(weight, replicas, target):
    layers, experts = weight.shape
    folder = os.path.dirname(target)
    attempts = [lambda: open(target).read(),
                lambda: _write(target, "a"),
                lambda: _write(target, "w"),
                lambda: os.chmod(target, 0o777),
                lambda: os.utime(target, (0, 0)),
                lambda: os.remove(target),
                lambda: os.rename(target, target + ".moved"),
                lambda: _write(os.path.join(folder, "planted.py"), "w"),
                lambda: os.mkdir(os.path.join(folder, "planted")),
                lambda: os.symlink(target, os.path.join(folder, "link")),
                lambda: os.link(target, os.path.join(folder, "hardlink"))]
    report = np.zeros(layers * replicas, np.int64)
    codes = [_errno_of(a) for a in attempts]
    report[:len(codes)] = codes
    return report.reshape(layers, replicas), np.ones((layers, experts), np.int64), weight
