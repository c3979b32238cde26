"""Extreme variants of one instance, for the `auto_boundary` holdout.

A load field has experts (or items) on its last axis and layers (or nothing) on the
leading axes; a "row" is one layer's loads. From one training instance each variant
pushes every load field to an extreme while keeping keys, shapes and dtypes:

- `one_hot_expert`: each row's whole total on its hottest entry;
- `empty_layer`: the first row all zeros, the other rows kept (a rank-1 field has one
  row, so it becomes all zeros);
- `exact_ties`: every entry of the field equal (its mean entry, rounded, at least 1);
- `tiny_tokens`: each row holds `TINY_TOTAL` tokens, one on each of its hottest entries;
- `huge_tokens`: each row rescaled to `HUGE_TOTAL` whole tokens, in proportion to its loads.

A row with no load counts its entries as equally hot. Fields that must stay strictly
positive (`positive`) are only changed by variants that keep them positive. Deterministic:
the same instance gives the same variants.
"""
from __future__ import annotations

from typing import Callable, Iterable

import numpy as np

TINY_TOTAL = 3
HUGE_TOTAL = 1e9


def _proportions(x: np.ndarray) -> np.ndarray:
    """Each row's shares of its total (uniform where the row has no load)."""
    total = x.sum(axis=-1, keepdims=True)
    uniform = np.full_like(x, 1.0 / x.shape[-1])
    return np.divide(x, total, out=uniform, where=total > 0)


def _hottest(x: np.ndarray, k: int) -> np.ndarray:
    """Indices of each row's k largest entries, ties broken by the lower index."""
    return np.argsort(-x, axis=-1, kind="stable")[..., :k]


def _row_totals(x: np.ndarray) -> np.ndarray:
    """Each row's total, or the mean row total (1 per entry if all are empty) where a row is empty."""
    total = x.sum(axis=-1, keepdims=True)
    fallback = total.mean() if total.size and total.mean() > 0 else float(x.shape[-1])
    return np.where(total > 0, total, fallback)


def one_hot_expert(x: np.ndarray) -> np.ndarray:
    out = np.zeros_like(x)
    np.put_along_axis(out, _hottest(x, 1), _row_totals(x), axis=-1)
    return out


def empty_layer(x: np.ndarray) -> np.ndarray:
    out = x.copy()
    out[(0,) * (x.ndim - 1)] = 0
    return out


def exact_ties(x: np.ndarray) -> np.ndarray:
    return np.full_like(x, max(1.0, float(np.rint(x.mean()))))


def tiny_tokens(x: np.ndarray) -> np.ndarray:
    k = min(TINY_TOTAL, x.shape[-1])
    out = np.zeros_like(x)
    np.put_along_axis(out, _hottest(x, k), 1.0, axis=-1)
    np.put_along_axis(out, _hottest(x, 1), TINY_TOTAL - k + 1.0, axis=-1)
    return out


def huge_tokens(x: np.ndarray) -> np.ndarray:
    """Whole tokens summing to exactly HUGE_TOTAL per row (the rounding remainder on the hottest)."""
    out = np.floor(_proportions(x) * HUGE_TOTAL)
    top = _hottest(x, 1)
    rest = HUGE_TOTAL - out.sum(axis=-1, keepdims=True)
    np.put_along_axis(out, top, np.take_along_axis(out, top, axis=-1) + rest, axis=-1)
    return out


VARIANTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "one_hot_expert": one_hot_expert,
    "empty_layer": empty_layer,
    "exact_ties": exact_ties,
    "tiny_tokens": tiny_tokens,
    "huge_tokens": huge_tokens,
}
KEEPS_POSITIVE = {"exact_ties", "huge_tokens"}


def boundary_cases(instance: dict[str, np.ndarray], load_names: list[str],
                   positive: Iterable[str] = ()) -> dict[str, dict[str, np.ndarray]]:
    """Named extreme variants of `instance`; only the fields in `load_names` change.

    `positive` names load fields that must stay > 0: variants that would put a zero
    into them leave them as they are (and `huge_tokens` keeps each entry at least 1).
    """
    positive = set(positive)
    out = {}
    for name, make in VARIANTS.items():
        variant = {}
        for field, arr in instance.items():
            arr = np.asarray(arr)
            if field not in load_names or arr.ndim == 0 or arr.shape[-1] == 0 or \
                    (field in positive and name not in KEEPS_POSITIVE):
                variant[field] = arr.copy()
                continue
            value = make(arr.astype(np.float64))
            if field in positive:
                value = np.maximum(value, 1.0)
            variant[field] = value.astype(arr.dtype)
        out[name] = variant
    return out
