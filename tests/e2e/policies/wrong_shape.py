"""Returns log2phy one column short."""
import numpy as np


def rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus):
    layers, experts = np.shape(weight)
    return (np.zeros((layers, num_replicas), np.int64),
            np.zeros((layers, experts, num_replicas - experts), np.int64),
            np.ones((layers, experts), np.int64))
