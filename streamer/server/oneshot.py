"""One-shot analysis of a file, URL or YouTube id for ``GET /v1/analyze`` and ``GET /<id>``.

Runs :func:`streamchill.streamer.batch.analyze_audio` in its own worker thread (so a long download
never delays live streams), keeps the last results in a bounded LRU cache, and shares one
computation between concurrent requests for the same source. A request waits at most
``wait_s``; if the answer is not ready it gets 202 and should ask again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)


def _analyze(source: str) -> dict[str, Any]:
    from streamchill.streamer.batch import analyze_source

    result = analyze_source(source)
    return {"source": source, **result.verdict}


class OneShot:
    """Cached, deduplicated batch analysis answering with (HTTP status, JSON body)."""

    def __init__(self, *, cache_size: int = 64, wait_s: float = 8.0) -> None:
        self.cache_size = cache_size
        self.wait_s = wait_s
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="oneshot")
        self._results: OrderedDict[str, asyncio.Future[dict[str, Any]]] = OrderedDict()

    async def get(self, source: str) -> tuple[int, dict[str, Any]]:
        """The verdict for ``source``: 200 with it, 202 while running, 4xx/5xx on failure."""
        future = self._results.get(source)
        if future is None:
            loop = asyncio.get_running_loop()
            future = asyncio.wrap_future(self._executor.submit(_analyze, source), loop=loop)
            self._results[source] = future
            log.info("one-shot analysis of %r started", source)
            while len(self._results) > self.cache_size:
                self._results.popitem(last=False)
        self._results.move_to_end(source)
        try:
            return 200, await asyncio.wait_for(asyncio.shield(future), self.wait_s)
        except TimeoutError:
            return 202, {"status": "pending", "source": source, "retry_after_s": 2}
        except Exception as exc:
            self._results.pop(source, None)  # failures are not cached: the cause may go away
            return _failure(source, exc)

    def close(self) -> None:
        """Stop the worker; a running analysis is abandoned."""
        self._executor.shutdown(wait=False, cancel_futures=True)


def _failure(source: str, exc: Exception) -> tuple[int, dict[str, Any]]:
    from streamchill.analyzer.errors import AnalyzerError
    from streamchill.streamer.errors import SourceError

    if isinstance(exc, SourceError):
        log.warning("one-shot analysis of %r: %s", source, exc)
        return 422, {"error": str(exc), "source": source}
    if isinstance(exc, AnalyzerError):
        log.error("one-shot analysis of %r failed: %s", source, exc)
        return 500, {"error": str(exc), "source": source}
    log.error("one-shot analysis of %r failed", source, exc_info=exc)
    return 500, {"error": f"internal error: {exc}", "source": source}
