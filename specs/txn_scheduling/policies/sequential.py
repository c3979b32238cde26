"""The leaderboard's 0-point: the transactions in their given order 0, 1, ..., txns - 1."""

import numpy as np


def schedule(key: np.ndarray, write: np.ndarray, offset: np.ndarray, length: np.ndarray) -> np.ndarray:
    return np.arange(len(length), dtype=np.int64)
