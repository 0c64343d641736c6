"""Waiting for a condition, never for a fixed time.

A test that sleeps "long enough" is slow on a quiet machine and flaky on a busy one. These
helpers poll the condition itself and give up after a bound that is generous for a loaded
CI machine; the failure message names what never happened. Use :func:`wait_until` in
synchronous code and :func:`until` inside a coroutine (it yields to the event loop between
polls, so the server or client under test keeps running).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

V = TypeVar("V")

POLL_S = 0.02
"""Seconds between two looks at the condition: short against any timeout, long enough not
to compete for the CPU with the code under test."""


class WaitTimeout(AssertionError):
    """The condition did not hold within its bound (an assertion failure of the test)."""


def wait_until(
    predicate: Callable[[], V], timeout_s: float, what: str, *, poll_s: float = POLL_S
) -> V:
    """Poll ``predicate`` until it returns something truthy, and return that value.

    Raises :class:`WaitTimeout` naming ``what`` after ``timeout_s`` seconds. Exceptions
    from ``predicate`` propagate at once (a crashed process should fail fast, not time out).
    """
    deadline = time.monotonic() + timeout_s
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise WaitTimeout(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(poll_s)
    return value


async def until(
    predicate: Callable[[], V], timeout_s: float, what: str, *, poll_s: float = POLL_S
) -> V:
    """The coroutine form of :func:`wait_until`: polls without blocking the event loop."""
    deadline = time.monotonic() + timeout_s
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise WaitTimeout(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(poll_s)
    return value
