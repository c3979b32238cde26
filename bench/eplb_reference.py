"""Hand-written EPLB evaluators, the references the compiled evaluator is measured against.

Both check a placement (the spec's invariants: ids in range, counts match, every
expert placed, the inverse map, every slot listed once, no dropped tokens) and score
its per-GPU balance on the next window's load:

    slot_load[l, p] = next[l, e] / logcnt[l, e]   with e = phy2log[l, p]
    gpu_load[l, g]  = sum of slot_load over slots g*S .. (g+1)*S,  S = R / P
    balance         = sum_l mean_g gpu_load[l, g] / sum_l max_g gpu_load[l, g]

- `loop_evaluate`: Python loops over layers, experts and slots on scalars (on Python lists,
  the fastest way to loop in Python). One instance at a time.
- `public_evaluate` follows the ADRS leaderboard's EPLB evaluator algorithm (its checks,
  then slot loads built from each expert's `log2phy` list with torch ops, one layer and
  expert at a time), for one window; it checks less than the spec (see its docstring).
- `numpy_evaluate` is hand-vectorized numpy over a batch of instances: what a skilled
  person writes without a compiler.

An invalid placement scores nothing: its balance is NaN.
"""

from __future__ import annotations

import numpy as np

TOLERANCE = 1e-4  # relative, for token conservation (the spec's `~=`)
CHUNK_ENTRIES = 2_000_000  # log2phy entries per chunk of the batch in numpy_evaluate


def _approx_equal(a, b):
    """|a - b| <= TOLERANCE * max(1, |a|, |b|), as the spec's `~=`."""
    return np.abs(a - b) <= TOLERANCE * np.maximum(1.0, np.maximum(np.abs(a), np.abs(b)))


def _check_gpus(num_replicas: int, num_gpus: int) -> None:
    if num_gpus < 1 or num_replicas % num_gpus != 0:
        raise ValueError(f"{num_replicas} slots do not split evenly over {num_gpus} GPUs")


# ---------------------------------------------------------------- loop version
def _loop_layer_valid(phy2log_l, log2phy_l, logcnt_l, num_experts: int) -> bool:
    """Invariants 1-4 and 'each slot listed once' for one layer, scalar by scalar."""
    num_replicas = len(phy2log_l)
    counted = [0] * num_experts
    for expert in phy2log_l:
        if not 0 <= expert < num_experts:
            return False
        counted[expert] += 1
    listed = [0] * num_replicas
    for expert in range(num_experts):
        count = logcnt_l[expert]
        if count != counted[expert] or count < 1:
            return False
        if count > len(log2phy_l[expert]):
            return False
        for rank, slot in enumerate(log2phy_l[expert]):
            if rank < count:
                if not 0 <= slot < num_replicas or phy2log_l[slot] != expert:
                    return False
                listed[slot] += 1
            elif slot != -1:
                return False
    return all(times == 1 for times in listed)


def loop_evaluate(weight_next, phy2log, log2phy, logcnt, num_gpus: int) -> tuple[bool, float]:
    """Validity and per-GPU balance of one placement [L, ...], scored on `weight_next` [L, E].
    The arrays become Python lists first, the fastest way to loop over them in Python."""
    next_load = np.asarray(weight_next, dtype=np.float64).tolist()
    phy2log, log2phy, logcnt = (np.asarray(a).tolist() for a in (phy2log, log2phy, logcnt))
    num_layers, num_experts = len(next_load), len(next_load[0])
    num_replicas = len(phy2log[0])
    _check_gpus(num_replicas, num_gpus)
    slots_per_gpu = num_replicas // num_gpus
    sum_of_means = sum_of_maxes = 0.0
    for layer in range(num_layers):
        if not _loop_layer_valid(phy2log[layer], log2phy[layer], logcnt[layer], num_experts):
            return False, float("nan")
        gpu_load = [0.0] * num_gpus
        for slot, expert in enumerate(phy2log[layer]):
            gpu_load[slot // slots_per_gpu] += next_load[layer][expert] / logcnt[layer][expert]
        placed, routed = sum(gpu_load), sum(next_load[layer])
        if not abs(placed - routed) <= TOLERANCE * max(1.0, abs(placed), abs(routed)):  # NaN fails
            return False, float("nan")
        sum_of_means += placed / num_gpus
        sum_of_maxes += max(gpu_load)
    return True, float(sum_of_means / sum_of_maxes) if sum_of_maxes > 0 else float("nan")


# ---------------------------------------------------------------- the leaderboard's algorithm
def public_evaluate(next_load, phy2log, log2phy, logcnt, num_gpus: int) -> tuple[bool, float]:
    """Validity and per-GPU balance of one window, by the algorithm of the public leaderboard's
    EPLB evaluator (written here from its description, on the tensors a torch policy returns):

    its checks: phy2log has one column per slot, each layer's replica counts sum to the slot
    count, no count is negative, no expert with load in the next window has no replica;
    then, for every layer and every expert with load, the expert's load split evenly over
    the first logcnt entries of its log2phy list and added to those slots (a float32 torch
    accumulator, `.item()` reads, indexed adds); slots summed per GPU; balance = sum over
    layers of the mean GPU load / sum of the max.

    It does not check that phy2log and log2phy agree, that slots are listed once, or that ids
    are in range (an out-of-range slot raises); that is the spec's business, not this one's.
    Inputs are torch tensors (convert before timing)."""
    import torch

    num_layers, num_experts = next_load.shape
    num_replicas = phy2log.shape[1]
    if not bool(torch.all(logcnt.sum(dim=1) == num_replicas)) or bool((logcnt < 0).any()):
        return False, float("nan")
    if bool(((next_load > 0) & (logcnt == 0)).any()):
        return False, float("nan")
    slot_load = torch.zeros(num_layers, num_replicas, dtype=torch.float)
    for layer in range(num_layers):
        for expert in range(num_experts):
            load = next_load[layer][expert].item()
            if load <= 0:
                continue
            copies = int(logcnt[layer][expert].item())
            if copies <= 0:
                continue
            slots = log2phy[layer][expert][:copies]
            slot_load[layer, slots] += load / copies
    if float(slot_load.sum()) == 0:
        return True, 0.0
    gpu_load = slot_load.view(num_layers, num_gpus, -1).sum(dim=2)
    sum_of_means, sum_of_maxes = gpu_load.mean(dim=1).sum().item(), gpu_load.max(dim=1).values.sum().item()
    return True, sum_of_means / sum_of_maxes if sum_of_maxes > 0 else 0.0


# ---------------------------------------------------------------- numpy version
def _counts_per_row(ids, num_rows: int, width: int):
    """bincount of each row of `ids` [rows, n] (values in [0, width)) -> [rows, width]."""
    offsets = (np.arange(num_rows, dtype=np.int64) * width)[:, None]
    return np.bincount((ids + offsets).ravel(), minlength=num_rows * width).reshape(num_rows, width)


def _counts_ok(phy2log, logcnt, num_experts: int, max_copies: int):
    """Invariants 1-3 (and logcnt fits log2phy's width) per row. -> bool [rows]."""
    num_rows = phy2log.shape[0]
    ids_ok = ((phy2log >= 0) & (phy2log < num_experts)).all(-1)
    safe_ids = np.where(ids_ok[:, None], phy2log, num_experts)  # bad rows count into bin E
    counted = _counts_per_row(safe_ids, num_rows, num_experts + 1)[:, :num_experts]
    return ids_ok & ((counted == logcnt) & (logcnt >= 1) & (logcnt <= max_copies)).all(-1)


def _listed_entries(log2phy, logcnt):
    """The entries r < logcnt[row, e] of log2phy [rows, E, X], gathered flat.

    Returns (row, expert, slot) of each listed entry. Reading only these (about R per
    row out of E * X) is what makes the inverse-map check cheap.
    """
    num_rows, num_experts, max_copies = log2phy.shape
    copies = np.clip(logcnt, 0, max_copies).ravel()
    row_expert = np.repeat(np.arange(num_rows * num_experts), copies)
    first = np.repeat(np.cumsum(copies) - copies, copies)
    rank = np.arange(len(row_expert)) - first
    slot = np.take(log2phy.reshape(-1), row_expert * max_copies + rank)
    return row_expert // num_experts, row_expert % num_experts, slot


def _padding_ok(log2phy, row, slot):
    """Every unlisted entry is -1, per row. -> bool [rows].

    Fast path: one count of -1 over the whole batch; only when it is off are rows counted.
    """
    num_rows, num_experts, max_copies = log2phy.shape
    listed_pad = np.bincount(row[slot == -1], minlength=num_rows)
    unlisted = num_experts * max_copies - np.bincount(row, minlength=num_rows)
    is_pad = log2phy.reshape(num_rows, -1) == -1
    if np.count_nonzero(is_pad) - listed_pad.sum() == unlisted.sum():
        return np.ones(num_rows, dtype=bool)
    return np.count_nonzero(is_pad, axis=1) - listed_pad == unlisted


def _numpy_valid(phy2log, log2phy, logcnt, num_experts: int):
    """Invariants 1-4 and 'each slot listed once' over rows = (instance, layer). -> bool [rows]."""
    num_rows, num_replicas = phy2log.shape
    counts_ok = _counts_ok(phy2log, logcnt, num_experts, log2phy.shape[-1])
    row, expert, slot = _listed_entries(log2phy, logcnt)
    in_range = (slot >= 0) & (slot < num_replicas)
    safe_slot = np.where(in_range, slot, num_replicas)  # column R: a pad column of -1
    padded = np.concatenate([phy2log, np.full((num_rows, 1), -1, phy2log.dtype)], axis=1)
    held = np.take(padded.reshape(-1), row * (num_replicas + 1) + safe_slot)
    wrong = np.bincount(row[held != expert], minlength=num_rows)
    hits = np.bincount(row * (num_replicas + 1) + safe_slot, minlength=num_rows * (num_replicas + 1))
    once_ok = (hits.reshape(num_rows, -1)[:, :num_replicas] == 1).all(-1)
    return counts_ok & (wrong == 0) & once_ok & _padding_ok(log2phy, row, slot)


def numpy_evaluate(next_b, phy2log_b, log2phy_b, logcnt_b, num_gpus: int):
    """Validity and balance of a batch of placements [B, L, ...]. -> (bool [B], float [B]).

    Instances are taken a few at a time so the working arrays stay in cache (about
    twice as fast per instance as one pass over a large batch).
    """
    next_b, phy2log_b, log2phy_b, logcnt_b = (
        np.asarray(a) for a in (next_b, phy2log_b, log2phy_b, logcnt_b))
    _check_gpus(phy2log_b.shape[-1], num_gpus)
    chunk = max(1, CHUNK_ENTRIES // max(1, log2phy_b[0].size)) if len(log2phy_b) else 1
    parts = [_evaluate_chunk(next_b[i:i + chunk], phy2log_b[i:i + chunk], log2phy_b[i:i + chunk],
                             logcnt_b[i:i + chunk], num_gpus) for i in range(0, len(log2phy_b), chunk)]
    if not parts:
        return np.zeros(0, dtype=bool), np.zeros(0)
    return np.concatenate([v for v, _ in parts]), np.concatenate([b for _, b in parts])


def _evaluate_chunk(next_b, phy2log_b, log2phy_b, logcnt_b, num_gpus: int):
    """numpy_evaluate on a few instances."""
    next_b = np.asarray(next_b, dtype=np.float64)
    batch, num_layers, num_experts = next_b.shape
    num_replicas = phy2log_b.shape[-1]
    rows = batch * num_layers
    phy2log = np.asarray(phy2log_b).reshape(rows, num_replicas)
    logcnt = np.asarray(logcnt_b).reshape(rows, num_experts)
    log2phy = np.asarray(log2phy_b).reshape(rows, num_experts, -1)
    valid_rows = _numpy_valid(phy2log, log2phy, logcnt, num_experts)

    # Simulator; ids are clipped and counts floored at 1 so invalid rows stay finite.
    per_replica = next_b.reshape(rows, num_experts) / np.maximum(logcnt, 1)
    slot_load = np.take_along_axis(per_replica, np.clip(phy2log, 0, num_experts - 1), axis=1)
    gpu_load = slot_load.reshape(rows, num_gpus, num_replicas // num_gpus).sum(-1)
    placed = gpu_load.sum(-1)
    conserved = _approx_equal(placed, next_b.reshape(rows, num_experts).sum(-1))

    valid = (valid_rows & conserved).reshape(batch, num_layers).all(-1)
    sum_of_means = (placed / num_gpus).reshape(batch, num_layers).sum(-1)
    sum_of_maxes = gpu_load.max(-1).reshape(batch, num_layers).sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        balance = np.where(valid & (sum_of_maxes > 0), sum_of_means / sum_of_maxes, np.nan)
    return valid, balance


# ---------------------------------------------------------------- random inputs
def random_valid_outputs(rng: np.random.Generator, L: int, E: int, R: int, P: int, batch: int):
    """Random valid placements: (phy2log [B, L, R], log2phy [B, L, E, R-E+1], logcnt [B, L, E]).

    Replica counts are >= 1 and sum to R (the R - E extra replicas dealt uniformly at
    random), slots are a random permutation, log2phy lists each expert's slots in
    increasing order and is padded with -1. `P` only checks that R splits over GPUs.
    """
    if R < E or R % P != 0:
        raise ValueError(f"need R >= E and R % P == 0, got R={R}, E={E}, P={P}")
    rows = batch * L
    extra = rng.integers(0, E, size=(rows, R - E))
    logcnt = 1 + _counts_per_row(extra, rows, E)
    # Experts in id order, each repeated logcnt times, then a random slot permutation.
    sorted_ids = np.repeat(np.tile(np.arange(E), rows), logcnt.ravel()).reshape(rows, R)
    slot_of_position = rng.permuted(np.tile(np.arange(R), (rows, 1)), axis=1)
    phy2log = np.empty_like(sorted_ids)
    np.put_along_axis(phy2log, slot_of_position, sorted_ids, axis=1)

    # Slots of each expert in increasing order: a stable sort of phy2log by expert id.
    slots_by_expert = np.argsort(phy2log, axis=1, kind="stable")
    first = np.cumsum(logcnt, axis=1) - logcnt  # position of each expert's first slot
    max_copies = R - E + 1
    rank = np.arange(max_copies)
    listed = rank < logcnt[:, :, None]
    position = np.where(listed, first[:, :, None] + rank, 0).reshape(rows, -1)
    log2phy = np.where(listed, np.take_along_axis(slots_by_expert, position, axis=1)
                       .reshape(rows, E, max_copies), -1)
    return (phy2log.reshape(batch, L, R).astype(np.int64),
            log2phy.reshape(batch, L, E, max_copies).astype(np.int64),
            logcnt.reshape(batch, L, E).astype(np.int64))
