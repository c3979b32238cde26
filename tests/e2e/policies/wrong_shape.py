"""Returns logcnt one column short (log2phy may be narrower than its bound; logcnt may not)."""
import numpy as np


def rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus):
    layers, experts = np.shape(weight)
    return (np.zeros((layers, num_replicas), np.int64),
            np.zeros((layers, experts, num_replicas - experts + 1), np.int64),
            np.ones((layers, experts - 1), np.int64))
