def rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus)
    return None
