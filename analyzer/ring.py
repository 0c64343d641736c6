"""A fixed-capacity ring of rows: the one kind of buffer a session keeps, bounded by design."""

from __future__ import annotations

import numpy as np


class Ring:
    """Keeps the newest ``capacity`` rows of shape ``row_shape``; older rows fall off.

    Storage is twice the capacity: rows are appended at the end and, when the end is
    reached, the newest ``capacity`` rows move to the front in one copy. Each row is
    thus copied at most once per ``capacity`` rows pushed (amortised O(1)), and the held
    rows are always one contiguous slice, so reading them never copies.
    """

    def __init__(self, capacity: int, row_shape: tuple[int, ...] = (), dtype: str = "float32"):
        self.capacity = capacity
        self._buf = np.zeros((2 * capacity, *row_shape), dtype=dtype)
        self._start = 0
        self._end = 0
        self.total = 0
        """Rows ever pushed (the absolute index of the next row)."""

    def push(self, rows: np.ndarray) -> None:
        rows = np.asarray(rows)
        n = len(rows)
        if n == 0:
            return
        self.total += n
        if n >= self.capacity:
            self._buf[: self.capacity] = rows[-self.capacity :]
            self._start, self._end = 0, self.capacity
            return
        if self._end + n > len(self._buf):
            keep = min(self._end - self._start, self.capacity - n)
            self._buf[:keep] = self._buf[self._end - keep : self._end]
            self._start, self._end = 0, keep
        self._buf[self._end : self._end + n] = rows
        self._end += n
        if self._end - self._start > self.capacity:
            self._start = self._end - self.capacity

    def __len__(self) -> int:
        return self._end - self._start

    def last(self, n: int) -> np.ndarray:
        """The newest ``min(n, len)`` rows, oldest first (a view: copy before keeping)."""
        n = max(0, min(n, len(self)))
        return self._buf[self._end - n : self._end]

    def since(self, absolute_index: int) -> np.ndarray:
        """Rows from absolute index ``absolute_index`` on (clipped to what is still held)."""
        return self.last(self.total - absolute_index)
