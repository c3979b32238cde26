"""An output area shared between the caller and a policy process, so that large results do
not squeeze through a socket buffer: a memfd sized for the declared outputs, mapped by both.

The policy process copies a call's checked outputs into it (one copy, strided sources
welcome) and says so; the caller copies them out. Shapes and dtypes come from the
caller's OutputSpecs, never from the area, so a policy scribbling on it can only change
its own numbers. The memfd is sealed against shrinking and growing before the policy
process gets it: a mapped file truncated under the caller would crash it with SIGBUS.
On systems without sealable memfds (not Linux), outputs travel over the socket instead.
"""
from __future__ import annotations

import mmap
import os

import numpy as np

from adrs_spec.sandbox.records import OutputSpec

ALIGNMENT = 64


def layout(outputs: list[OutputSpec]) -> tuple[list[int], int]:
    """The byte offset of each output in the area, and the area's size."""
    offsets, end = [], 0
    for spec in outputs:
        offsets.append(end)
        size = int(np.prod(spec.shape, dtype=np.int64)) * spec.dtype.itemsize
        end += -(-size // ALIGNMENT) * ALIGNMENT
    return offsets, end


def create_area(size: int) -> int | None:
    """A sealed memfd of `size` bytes, or None where that is not available."""
    import fcntl

    needed = ("F_ADD_SEALS", "F_SEAL_SHRINK", "F_SEAL_GROW", "F_SEAL_SEAL")
    if size <= 0 or not hasattr(os, "memfd_create") or not all(hasattr(fcntl, n) for n in needed):
        return None
    try:
        fd = os.memfd_create("adrs-sandbox-outputs", os.MFD_ALLOW_SEALING | os.MFD_CLOEXEC)
    except OSError:
        return None
    os.ftruncate(fd, size)
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL)
    return fd


def map_area(fd: int, size: int) -> mmap.mmap:
    return mmap.mmap(fd, size)


def _views(area: mmap.mmap, offsets: list[int], outputs: list[OutputSpec]) -> list[np.ndarray]:
    return [np.frombuffer(area, dtype=spec.dtype, count=int(np.prod(spec.shape, dtype=np.int64)),
                          offset=offset).reshape(spec.shape)
            for offset, spec in zip(offsets, outputs)]


def write_values(area: mmap.mmap, offsets: list[int], outputs: list[OutputSpec], values) -> None:
    """In the policy process: copy checked outputs into the area."""
    for view, value in zip(_views(area, offsets, outputs), values):
        np.copyto(view, value, casting="unsafe")


def read_values(area: mmap.mmap, offsets: list[int], outputs: list[OutputSpec], into: list[np.ndarray]) -> None:
    """In the caller: copy the outputs in the area into private arrays (`into`, one per output)."""
    for view, destination in zip(_views(area, offsets, outputs), into):
        np.copyto(destination, view)
