"""Inputs, declared outputs and process bookkeeping shared by the sandbox tests.

Every test policy in policies/ has the signature `place(weight, replicas)` and declares
phy2log int[2, 6], logcnt int[2, 4], share float[2, 4]: a tiny EPLB-like placement with
2 layers, 4 experts, 6 replicas.
"""
import importlib.util
import os

import numpy as np

from adrs_spec.sandbox import OutputSpec

HERE = os.path.dirname(os.path.abspath(__file__))
POLICIES = os.path.join(HERE, "policies")
ROOT = os.path.dirname(os.path.dirname(HERE))

LAYERS, EXPERTS, REPLICAS = 2, 4, 6
OUTPUTS = [OutputSpec("phy2log", "int", (LAYERS, REPLICAS)), OutputSpec("logcnt", "int", (LAYERS, EXPERTS)),
           OutputSpec("share", "float", (LAYERS, EXPERTS))]
WEIGHTS = [np.array([[5.0, 1.0, 3.0, 2.0], [0.5, 4.0, 4.5, 1.0]]),
           np.array([[1.0, 7.0, 2.0, 6.0], [3.0, 3.5, 0.25, 9.0]])]
CALLS = [(w, REPLICAS) for w in WEIGHTS]


def policy(name: str) -> str:
    return os.path.join(POLICIES, name)


def load_module(path: str):
    """Import a policy file in this process, to compute reference outputs."""
    name = "_reference_" + os.path.basename(path).removesuffix(".py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reference_outputs() -> list[tuple]:
    """What good_numpy.place returns for each call, computed here without a sandbox."""
    place = load_module(policy("good_numpy.py")).place
    return [tuple(np.asarray(v) for v in place(w.copy(), r)) for w, r in CALLS]


def descendants(pid: int | None = None) -> set[int]:
    """Live processes below `pid` (default: this process), from a /proc scan."""
    pid = os.getpid() if pid is None else pid
    parent_of, state_of = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent_of[int(entry)], state_of[int(entry)] = int(fields[1]), fields[0]
    found = set()
    for candidate in parent_of:
        ancestor = parent_of.get(candidate)
        while ancestor is not None and ancestor > 1:
            if ancestor == pid:
                found.add(candidate)
                break
            ancestor = parent_of.get(ancestor)
    return {p for p in found if state_of[p] != "Z"}


def exists(pid: int) -> bool:
    """Whether a process with this pid exists (zombies included)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
