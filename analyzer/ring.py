"""A fixed-capacity ring of rows: the one kind of buffer a session keeps, bounded by design."""

from __future__ import annotations

import numpy as np


class Ring:
    """Keeps the newest ``capacity`` rows of shape ``row_shape``; older rows fall off."""

    def __init__(self, capacity: int, row_shape: tuple[int, ...] = (), dtype: str = "float32"):
        self.capacity = capacity
        self._buf = np.zeros((capacity, *row_shape), dtype=dtype)
        self._len = 0
        self.total = 0
        """Rows ever pushed (the absolute index of the next row)."""

    def push(self, rows: np.ndarray) -> None:
        rows = np.asarray(rows)
        n = len(rows)
        if n == 0:
            return
        if n >= self.capacity:
            self._buf[:] = rows[-self.capacity :]
            self._len = self.capacity
        else:
            keep = min(self._len, self.capacity - n)
            self._buf[:keep] = self._buf[self._len - keep : self._len]
            self._buf[keep : keep + n] = rows
            self._len = keep + n
        self.total += n

    def __len__(self) -> int:
        return self._len

    def last(self, n: int) -> np.ndarray:
        """The newest ``min(n, len)`` rows, oldest first (a view: copy before keeping)."""
        n = max(0, min(n, self._len))
        return self._buf[self._len - n : self._len]

    def since(self, absolute_index: int) -> np.ndarray:
        """Rows from absolute index ``absolute_index`` on (clipped to what is still held)."""
        return self.last(self.total - absolute_index)
