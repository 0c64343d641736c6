"""The real daemon, unchanged, but with every stream analysed by the naive baseline.

``python benchmarks/naive_daemon.py [streamchill daemon flags...]`` replaces the daemon's
session factory (``streamchill.streamer.daemon.Daemon``'s ``session_factory`` argument, which
``streamchill daemon`` leaves at ``streamchill.streamer.server.live_session.analyzer_session``)
with one that builds
a :class:`naive.NaiveSession`, then runs the normal ``streamchill daemon`` entry point. The
server, ingest queues, hub and subscribers are the shipped code: only the analysis differs,
so the daemon-level figures (latency, memory) compare the two designs and nothing else.
This lives in ``benchmarks/`` so the daemon needs no benchmark-only switch.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))


def naive_session(stream: str, sample_rate_hz: int, channels: int, sample_format: Any) -> Any:
    """A ``SessionFactory`` (server.live_session) building the naive baseline (imported lazily,
    as the real factory is, so the idle daemon loads the same libraries)."""
    from naive import NaiveSession

    return NaiveSession(
        stream, sample_rate_hz=sample_rate_hz, channels=channels, sample_format=sample_format
    )


def main(argv: list[str]) -> int:
    from streamchill.streamer import daemon as daemon_module
    from streamchill.streamer.commands.cli import main as streamchill

    class NaiveDaemon(daemon_module.Daemon):
        """The shipped daemon with the naive session factory as its default."""

        def __init__(self, settings: Any, **kwargs: Any) -> None:
            kwargs.setdefault("session_factory", naive_session)
            super().__init__(settings, **kwargs)

    # `streamchill daemon` looks the class up in streamchill.streamer.daemon when it runs.
    daemon_module.Daemon = NaiveDaemon  # type: ignore[misc]
    return streamchill(["daemon", *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
