"""Deterministic variants of a call's inputs, for the untimed warm-up and the timed repeats.

A memoizing policy must not get faster by seeing the same inputs twice. Every timed
execution therefore gets content the policy has never seen: the real inputs once, and for
the other repeats cyclic shifts of them. Variant v rolls every array of the call by the same
amounts, axis 0 by 1 + (v - 1) mod (n0 - 1) and, for arrays of two or more dimensions, the
last axis by 1 + (v - 1) mod (n_last - 1). Shifting both axes changes every row and every
column (a per-layer cache misses too), shifting all arrays alike keeps entries that belong
together aligned (model i's size and rate stay at the same index), and the values
themselves are untouched, so the inputs stay valid (non-negative, integral, same sums) and
cost about as much to process. The warm-up uses the inputs reversed along the same axes.

Limits: an array whose shifted copy equals itself (all rows equal, a constant array) gives
no new content, and a policy that canonicalizes its input (say, sorts it) before caching
could still recognise a shifted copy.
"""
from __future__ import annotations

import numpy as np


def _shift(length: int, variant: int) -> int:
    return 0 if length < 2 else 1 + (variant - 1) % (length - 1)


def shifted_call(args: tuple, variant: int) -> tuple:
    """Variant `variant` (1, 2, ...) of the call: every array rolled as described above."""
    return tuple(_shifted(a, variant) if isinstance(a, np.ndarray) and a.ndim else a for a in args)


def _shifted(array: np.ndarray, variant: int) -> np.ndarray:
    out = np.roll(array, _shift(array.shape[0], variant), axis=0)
    if array.ndim >= 2:
        out = np.roll(out, _shift(array.shape[-1], variant), axis=-1)
    return np.ascontiguousarray(out)


def reversed_call(args: tuple) -> tuple:
    """The call with every array reversed along its first and last axes (the warm-up inputs)."""
    return tuple(np.ascontiguousarray(np.flip(a, axis=(0, -1) if a.ndim >= 2 else 0))
                 if isinstance(a, np.ndarray) and a.ndim else a for a in args)
