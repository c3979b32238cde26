"""The DeepSeek EPLB algorithm: the human baseline for the EPLB spec.

Written from the public description of the algorithm (hierarchical load balancing):

1. pack expert groups onto nodes so that nodes carry similar load;
2. inside each node, give the extra replicas one by one to the expert with the
   largest load per replica;
3. inside each node, pack the replicas onto that node's GPUs;
4. compose the permutations back into global slot ids.

Both packings are a capacity-limited greedy in a Python loop, which is why this
baseline is slow (hundreds of ms at the leaderboard shape). With the hierarchical
variant every replica of an expert stays in the node that holds its group.
"""

from __future__ import annotations

import torch


def _greedy_pack(item_load: torch.Tensor, num_packs: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pack the items of each row into `num_packs` packs of equal item count.

    Items go, heaviest first, to the lightest pack that still has room.
    Returns (pack [rows, n], rank_in_pack [rows, n]), both int64.
    """
    num_rows, num_items = item_load.shape
    assert num_items % num_packs == 0, "items must split evenly over the packs"
    capacity = num_items // num_packs
    if capacity == 1:
        # One item per pack: any assignment is equally balanced.
        pack = torch.arange(num_items, dtype=torch.int64).expand(num_rows, -1).clone()
        return pack, torch.zeros_like(pack)

    order = item_load.sort(dim=-1, descending=True, stable=True).indices.tolist()
    loads = item_load.tolist()
    pack = [[0] * num_items for _ in range(num_rows)]
    rank = [[0] * num_items for _ in range(num_rows)]
    for row in range(num_rows):
        pack_load = [0.0] * num_packs
        pack_count = [0] * num_packs
        row_loads, row_pack, row_rank = loads[row], pack[row], rank[row]
        for item in order[row]:
            target = min(
                (p for p in range(num_packs) if pack_count[p] < capacity),
                key=pack_load.__getitem__,
            )
            row_pack[item] = target
            row_rank[item] = pack_count[target]
            pack_load[target] += row_loads[item]
            pack_count[target] += 1
    return torch.tensor(pack, dtype=torch.int64), torch.tensor(rank, dtype=torch.int64)


def _replicate(expert_load: torch.Tensor, num_slots: int) -> tuple[torch.Tensor, ...]:
    """Give `num_slots - n` extra replicas, one at a time, to the busiest expert per replica.

    Returns (slot2expert [rows, num_slots], slot_rank [rows, num_slots], count [rows, n]).
    """
    num_rows, num_experts = expert_load.shape
    rows = torch.arange(num_rows)
    slot2expert = torch.arange(num_slots, dtype=torch.int64).repeat(num_rows, 1)
    slot_rank = torch.zeros(num_rows, num_slots, dtype=torch.int64)
    count = torch.ones(num_rows, num_experts, dtype=torch.int64)
    for slot in range(num_experts, num_slots):
        busiest = (expert_load / count).argmax(dim=-1)
        slot2expert[:, slot] = busiest
        slot_rank[:, slot] = count[rows, busiest]
        count[rows, busiest] += 1
    return slot2expert, slot_rank, count


def _inverse(permutation: torch.Tensor) -> torch.Tensor:
    """Row-wise inverse of a batch of permutations [rows, n]."""
    inverse = torch.empty_like(permutation)
    positions = torch.arange(permutation.size(1), dtype=torch.int64).expand_as(permutation)
    return inverse.scatter_(1, permutation, positions)


def _hierarchical(
    weight: torch.Tensor, num_replicas: int, num_groups: int, num_nodes: int, num_gpus: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Steps 1-4 for one choice of (groups, nodes); returns (slot2expert, slot_rank, count)."""
    num_layers, num_experts = weight.shape
    group_size = num_experts // num_groups
    experts_per_node = num_experts // num_nodes
    slots_per_node = num_replicas // num_nodes
    gpus_per_node = num_gpus // num_nodes
    slots_per_gpu = num_replicas // num_gpus

    # Step 1: groups onto nodes. "Node-major" expert ids list the experts of node 0
    # first, then node 1, ...; each group keeps its experts contiguous.
    group_load = weight.unflatten(-1, (num_groups, group_size)).sum(-1)  # (layers, groups)
    group_node, group_rank = _greedy_pack(group_load, num_nodes)
    groups_per_node = num_groups // num_nodes
    group_start = (group_node * groups_per_node + group_rank) * group_size  # (layers, groups)
    expert2nodemajor = (
        group_start.unsqueeze(-1) + torch.arange(group_size, dtype=torch.int64)
    ).flatten(-2)  # (layers, experts)
    nodemajor2expert = _inverse(expert2nodemajor)

    # Step 2: replicate inside each node; one row per (layer, node).
    node_expert_load = weight.gather(-1, nodemajor2expert).reshape(-1, experts_per_node)
    local_slot2expert, local_rank, local_count = _replicate(node_expert_load, slots_per_node)

    # Step 3: replicas onto the node's GPUs.
    replica_load = (node_expert_load / local_count).gather(-1, local_slot2expert)
    replica_gpu, replica_rank = _greedy_pack(replica_load, gpus_per_node)
    replica2slot = replica_gpu * slots_per_gpu + replica_rank  # node-local slot of each replica
    slot2replica = _inverse(replica2slot)

    # Step 4: back to global ids.
    node_offset = (torch.arange(num_nodes, dtype=torch.int64) * experts_per_node).view(1, -1, 1)
    slot2nodemajor = local_slot2expert.gather(-1, slot2replica).view(num_layers, num_nodes, -1)
    slot2nodemajor = (slot2nodemajor + node_offset).flatten(-2)  # (layers, replicas)
    slot2expert = nodemajor2expert.gather(-1, slot2nodemajor)
    slot_rank = local_rank.gather(-1, slot2replica).view(num_layers, -1)
    count = local_count.view(num_layers, -1).gather(-1, expert2nodemajor)
    return slot2expert, slot_rank, count


def rebalance_experts(
    weight: torch.Tensor, num_replicas: int, num_groups: int, num_nodes: int, num_gpus: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Place `num_replicas` replicas of the experts of each layer.

    weight: [layers, experts] tokens per expert (float or int).
    Returns int64 (phy2log [layers, R], log2phy [layers, experts, R - experts + 1]
    padded with -1, logcnt [layers, experts]).
    """
    weight = torch.as_tensor(weight).to(device="cpu", dtype=torch.float64)
    assert weight.dim() == 2, f"weight must be [layers, experts], got shape {tuple(weight.shape)}"
    num_layers, num_experts = weight.shape
    assert num_experts % num_groups == 0, (
        f"experts ({num_experts}) must be a multiple of groups ({num_groups})")
    assert num_replicas % num_gpus == 0, (
        f"replicas ({num_replicas}) must be a multiple of gpus ({num_gpus})")
    assert num_gpus % num_nodes == 0, (
        f"gpus ({num_gpus}) must be a multiple of nodes ({num_nodes})")
    assert num_replicas >= num_experts, (
        f"replicas ({num_replicas}) must be at least experts ({num_experts})")

    if num_groups % num_nodes == 0:
        phy2log, rank, logcnt = _hierarchical(
            weight, num_replicas, num_groups, num_nodes, num_gpus)
    else:
        phy2log, rank, logcnt = _hierarchical(weight, num_replicas, 1, 1, num_gpus)

    max_copies = num_replicas - num_experts + 1
    log2phy = torch.full((num_layers, num_experts * max_copies), -1, dtype=torch.int64)
    slots = torch.arange(num_replicas, dtype=torch.int64).expand(num_layers, -1)
    log2phy.scatter_(-1, phy2log * max_copies + rank, slots)
    return phy2log, log2phy.view(num_layers, num_experts, max_copies), logcnt
