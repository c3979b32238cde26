"""The public placement baseline: model i on GPU i mod gpus, blind to size and load.

The spec scores every policy against this placement, so it scores 0 by definition.
"""

from __future__ import annotations

import numpy as np


def place(size: np.ndarray, req_rate: np.ndarray, slo: np.ndarray, gpus: int) -> np.ndarray:
    """Returns gpu_of [models], int64: model i goes to GPU i % gpus."""
    return np.arange(len(size), dtype=np.int64) % int(gpus)
