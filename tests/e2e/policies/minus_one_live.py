"""Round-robin, but the first listed slot of expert 4 in layer 0 is -1 (padding inside the
live part of log2phy)."""
import numpy as np


def rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus):
    layers, experts = np.shape(weight)
    counts = 1 + (np.arange(experts) < num_replicas - experts)
    phy2log = np.repeat(np.arange(experts), counts)[None].repeat(layers, 0)
    first = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.arange(num_replicas - experts + 1)
    log2phy = np.where(rank < counts[:, None], first[:, None] + rank, -1)[None].repeat(layers, 0)
    log2phy[0, 4, 0] = -1
    return phy2log, log2phy, counts[None].repeat(layers, 0)
