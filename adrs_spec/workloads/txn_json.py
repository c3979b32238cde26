"""The ADRS leaderboard's transaction workload format -> txn_scheduling instance arrays.

A workload is a JSON object of transactions, `{"txn0": "w-17 r-5 w-3 r-4", ...}`: each value
is space-separated operations, `r-KEY` (read) or `w-KEY` (write), or `*` (a slot with no
operation, which still takes time). Transactions are numbered in the object's order; keys
are strings, numbered in order of first appearance. Every problem is an `InputError` naming
the transaction and the operation.
"""
from __future__ import annotations

import json

import numpy as np

from adrs_spec.errors import InputError

MAX_TXNS = 4096
MAX_OPS = 256


def parse_txn_workload(text: str, name: str = "<workload>") -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """(fields, params): operation j of transaction t has `key` [t, j] (-1: none), `write` [t, j]
    (1: write) and `offset` [t, j] (its slot, from 0; `*` slots hold no operation but count);
    `length` [t] is the number of slots. Params: txns, ops (the most operations in one
    transaction) and keys."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise InputError(f"{name}: not JSON ({exc}); a workload is an object like "
                         f'{{"txn0": "w-17 r-5", "txn1": "r-17 w-10"}}') from None
    if not isinstance(data, dict) or not data:
        raise InputError(f"{name}: a workload is a non-empty JSON object of transactions, e.g. "
                         f'{{"txn0": "w-17 r-5", "txn1": "r-17 w-10"}}')
    if len(data) > MAX_TXNS:
        raise InputError(f"{name}: {len(data)} transactions; at most {MAX_TXNS}")
    key_ids: dict[str, int] = {}
    txns = []
    for txn_name, ops_text in data.items():
        if not isinstance(ops_text, str):
            raise InputError(f"{name}: transaction {txn_name!r} is {type(ops_text).__name__}, not a string of "
                             f"operations like \"w-17 r-5\"")
        ops = ops_text.split(" ")
        if len(ops) > MAX_OPS:
            raise InputError(f"{name}: transaction {txn_name!r} has {len(ops)} operations; at most {MAX_OPS}")
        parsed = []
        for position, op in enumerate(ops):
            if op == "*":
                continue
            kind, dash, key = op.partition("-")
            if kind not in ("r", "w") or not dash or not key or "-" in key:
                raise InputError(f"{name}: transaction {txn_name!r}, operation {position + 1}: {op!r} is not "
                                 f"`r-KEY`, `w-KEY` or `*`")
            parsed.append((kind == "w", key_ids.setdefault(key, len(key_ids)), position))
        txns.append((parsed, len(ops)))
    width = max(1, max(len(ops) for ops, _ in txns))
    key = np.full((len(txns), width), -1, dtype=np.int64)
    write = np.zeros((len(txns), width), dtype=np.int64)
    offset = np.zeros((len(txns), width), dtype=np.int64)
    for t, (ops, _) in enumerate(txns):
        for j, (is_write, key_id, position) in enumerate(ops):
            write[t, j], key[t, j], offset[t, j] = is_write, key_id, position
    length = np.array([slots for _, slots in txns], dtype=np.int64)
    return ({"key": key, "write": write, "offset": offset, "length": length},
            {"txns": len(txns), "ops": width, "keys": max(len(key_ids), 1)})


def load_txn_workload(path: str):
    """`parse_txn_workload` of a file."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read(16 << 20)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the workload ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text; a workload is a JSON object") from None
    return parse_txn_workload(text, path)
