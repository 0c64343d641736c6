"""The ring keeps exactly the newest rows, whatever the push sizes."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from streamchill.analyzer.ring import Ring


@given(st.integers(1, 50), st.lists(st.integers(0, 120), max_size=40))
@settings(max_examples=300, deadline=None)
def test_ring_holds_the_newest_rows_in_order(capacity: int, sizes: list[int]) -> None:
    ring = Ring(capacity, (2,))
    pushed = np.zeros((0, 2), np.float32)
    counter = 0
    for n in sizes:
        rows = np.arange(counter, counter + n, dtype=np.float32).repeat(2).reshape(n, 2)
        counter += n
        ring.push(rows)
        pushed = np.concatenate([pushed, rows])[-capacity:]
        assert len(ring) == len(pushed)
        assert np.array_equal(ring.last(capacity), pushed)
        assert ring.total == counter
        k = max(0, counter - 3)
        assert np.array_equal(
            ring.since(k), pushed[-(counter - k) :] if counter > k else pushed[:0]
        )
