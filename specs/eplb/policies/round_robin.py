"""A load-blind EPLB baseline: valid by construction, balanced by nothing.

Every expert gets one replica; the R - E extra replicas go to experts 0, 1, 2, ...
in index order (wrapping around); slots are filled by expert id, the replicas of
one expert side by side. It is the floor any load-aware policy should beat.
"""

from __future__ import annotations

import numpy as np


def rebalance_experts(
    weight: np.ndarray, num_replicas: int, num_groups: int, num_nodes: int, num_gpus: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Returns int64 (phy2log [L, R], log2phy [L, E, R - E + 1] padded with -1, logcnt [L, E])."""
    num_layers, num_experts = np.shape(weight)
    assert num_replicas >= num_experts, (
        f"replicas ({num_replicas}) must be at least experts ({num_experts})")
    extra = num_replicas - num_experts
    # Expert e gets 1 + (number of extra replicas dealt to it in index order).
    counts = 1 + extra // num_experts + (np.arange(num_experts) < extra % num_experts)
    phy2log_row = np.repeat(np.arange(num_experts, dtype=np.int64), counts)
    first_slot = np.concatenate(([0], np.cumsum(counts)[:-1]))

    max_copies = extra + 1
    copy = np.arange(max_copies)
    log2phy_row = np.where(copy < counts[:, None], first_slot[:, None] + copy, -1)

    phy2log = np.broadcast_to(phy2log_row, (num_layers, num_replicas)).copy()
    log2phy = np.broadcast_to(log2phy_row, (num_layers, num_experts, max_copies)).astype(np.int64)
    logcnt = np.broadcast_to(counts, (num_layers, num_experts)).astype(np.int64)
    return phy2log, log2phy, logcnt
