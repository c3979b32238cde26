"""Plain-Python makespan simulators written to the ADRS leaderboard's txn_scheduling semantics.

`lock_list_makespan` follows the leaderboard's own algorithm: per key, a list of locks
(kind, time) kept sorted by time; a write starts after the latest lock, a read after the
latest write (found by walking back over the trailing reads). `table_makespan` keeps only
the two numbers that algorithm ends up reading per key (the latest write, the latest lock).
Both take the workload as parsed transactions: lists of (is_write, key, position) with the
transaction's length, position counting from 1 and `*` slots included.
"""
from __future__ import annotations

import bisect
import json


def parse(text: str) -> list[tuple[list[tuple[bool, str, int]], int]]:
    """Transactions of a leaderboard workload JSON: ([(is_write, key, position)], length)."""
    txns = []
    for ops_text in json.loads(text).values():
        ops = ops_text.split(" ")
        txns.append(([(op[0] == "w", op[2:], pos) for pos, op in enumerate(ops, 1) if op != "*"], len(ops)))
    return txns


def lock_list_makespan(txns, order) -> int:
    locks: dict[str, list[tuple[int, bool]]] = {}     # key -> [(time, is_write)] sorted by time
    makespan = 0
    for t in order:
        ops, length = txns[t]
        start = 1
        for is_write, key, pos in ops:
            held = locks.get(key)
            if not held:
                continue
            if is_write or held[-1][1]:
                free = held[-1][0] + 1
            else:
                k = len(held) - 1
                while k >= 0 and not held[k][1]:
                    k -= 1
                free = held[k][0] + 1 if k >= 0 else 0
            start = max(start, free - pos + 1)
        end = start + length - 1 if ops else 0
        makespan = max(makespan, end)
        for is_write, key, pos in ops:
            held = locks.setdefault(key, [])
            entry = (start + pos - 1, is_write)
            held.insert(bisect.bisect_right([h[0] for h in held], entry[0]), entry)
    return makespan


def table_makespan(txns, order) -> int:
    last_write: dict[str, int] = {}
    last_lock: dict[str, int] = {}
    makespan = 0
    for t in order:
        ops, length = txns[t]
        start = 1
        for is_write, key, pos in ops:
            held = last_lock.get(key, 0) if is_write else last_write.get(key, 0)
            start = max(start, held + 2 - pos)
        makespan = max(makespan, start + length - 1 if ops else 0)
        for is_write, key, pos in ops:
            time = start + pos - 1
            last_lock[key] = max(last_lock.get(key, 0), time)
            if is_write:
                last_write[key] = max(last_write.get(key, 0), time)
    return makespan
