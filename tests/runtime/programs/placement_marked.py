"""Placement round-robin with an EVOLVE block: only the body of `place` may change."""

from __future__ import annotations

import numpy as np


def place(size: np.ndarray, req_rate: np.ndarray, slo: np.ndarray, gpus: int) -> np.ndarray:
    # EVOLVE-BLOCK-START
    return np.arange(len(size), dtype=np.int64) % int(gpus)
    # EVOLVE-BLOCK-END
