"""A small EPLB-like placement in numpy: one replica per expert, the extra replicas to the
heaviest experts; also returns each expert's load per replica."""
import numpy as np


def place(weight, replicas):
    layers, experts = weight.shape
    extra = replicas - experts
    heaviest = np.argsort(-weight, axis=1, kind="stable")[:, :extra]
    phy2log = np.concatenate([np.tile(np.arange(experts), (layers, 1)), heaviest], axis=1)
    logcnt = np.stack([np.bincount(row, minlength=experts) for row in phy2log])
    return phy2log, logcnt, weight / logcnt
