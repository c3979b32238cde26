"""Outputs of data-dependent width: a dimension declared `<= bound`, filled with a pad value.

A policy may return any width along such a dimension (the public EPLB interface lets
`log2phy` be as wide as the largest replica count). Everything that reads an output (the
guards, the simulator, the reference interpreter, the Z3 encoding) sees its padded form:
exactly the bound wide, the entries past the policy's width equal to the pad value. A
wider value is cut to the bound when every entry past it is the pad value.
"""
from __future__ import annotations

import numpy as np


def fit_bounded(value: np.ndarray, shape: tuple[int, ...], bounded: tuple[int, ...], pad, batch_axes: int = 0
                ) -> tuple[np.ndarray, tuple[int, int, tuple[int, ...]] | None]:
    """`value` with each bounded axis padded or cut to its bound, and None; or, when an entry
    past a bound is not `pad`, the value unchanged and (axis, its width, the first such index).
    `batch_axes` leading axes come before the declared ones."""
    for axis in bounded:
        at = batch_axes + axis
        width, bound = value.shape[at], shape[axis]
        if width > bound:
            extra = np.take(value, np.arange(bound, width), axis=at)
            bad = extra != pad
            if bad.any():
                where = [int(i) for i in np.argwhere(bad)[0]]
                where[at] += bound
                return value, (axis, width, tuple(where))
            value = np.take(value, np.arange(bound), axis=at)
        elif width < bound:
            widths = [(0, 0)] * value.ndim
            widths[at] = (0, bound - width)
            value = np.pad(value, widths, constant_values=pad)
    return value, None


def describe_problem(name: str, shape: tuple[int, ...], bounded: tuple[int, ...], bound_names: tuple[str, ...],
                     pad, axis: int, width: int, where: tuple[int, ...], found) -> str:
    """`... has width 40 in dimension 3, past its bound `<= max_copies = 33`, ...`: why a value
    (whose entry `found` at `where`, past the bound along `axis`, is not the pad) does not fit."""
    bound_name = bound_names[bounded.index(axis)]
    bound = shape[axis]
    shown = bound_name if bound_name == str(bound) else f"{bound_name} = {bound}"
    return (f"{name} has width {width} in dimension {axis + 1}, past its bound `<= {shown}`, and a value other "
            f"than the pad value {pad!r} there ({found!r} at {list(where)}); entries past the bound must be {pad!r}")
