"""``streamchill daemon``: run the local server (and optional capture and MQTT) until stopped."""

from __future__ import annotations

import argparse
import sys


def add_parser(parser: argparse.ArgumentParser) -> None:
    """Flags override ``STREAMCHILL_*`` variables, which override ``config.toml``."""
    add = parser.add_argument
    add("--host", help="address to bind (default 127.0.0.1)")
    add("--port", type=int, help="TCP port (default 8765; 0 picks a free one)")
    add("--capture", metavar="system|DEVICE", help="also analyse system audio or an input device")
    add("--config-dir", metavar="DIR", help="where config.toml and the token live")
    add("--ready-file", metavar="PATH", help='write {"port","token","pid"} here once listening')
    add("--mqtt", metavar="URL", help="publish events to this MQTT broker")
    add("--log-level", choices=["debug", "info", "warning", "error"])


def run(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import signal
    from pathlib import Path

    from streamchill.streamer.config import load_settings
    from streamchill.streamer.daemon import Daemon, write_ready_file
    from streamchill.streamer.errors import StreamerError

    try:
        settings = load_settings(
            args.config_dir,
            overrides={"host": args.host, "port": args.port, "capture": args.capture,
                       "mqtt": args.mqtt, "log_level": args.log_level},
        )  # fmt: skip
    except StreamerError as exc:
        print(f"streamchill daemon: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if settings.log_level.lower() != "debug":
        # websockets says "connection open", "HTTP response sent" and "connection closed"
        # at INFO for every connection, and the extension asks /healthz before each
        # (re)connect; our own lines already name what matters (streams, subscribers,
        # refusals). Its warnings and errors still show; --log-level debug shows the rest.
        logging.getLogger("websockets").setLevel(logging.WARNING)
    log = logging.getLogger("streamchill.daemon")
    if settings.host not in {"127.0.0.1", "localhost", "::1"}:
        log.warning("binding %s: other machines can reach this port", settings.host)
    ready_file = Path(args.ready_file) if args.ready_file else None

    def ready(port: int, token: str) -> None:
        if ready_file is not None:
            write_ready_file(ready_file, port=port, token=token)
        log.info("ready on ws://%s:%d (config dir %s)", settings.host, port, settings.config_dir)

    async def main() -> None:
        daemon = Daemon(settings, on_ready=ready)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, daemon.stop)
        await daemon.run()

    code = 0
    try:
        asyncio.run(main())
    except StreamerError as exc:
        log.error("%s", exc)
        code = 2
    except OSError as exc:
        log.error("cannot serve on %s:%s: %s", settings.host, settings.port, exc.strerror)
        code = 1
    finally:
        if ready_file is not None:
            ready_file.unlink(missing_ok=True)
    if settings.capture:
        _exit_without_portaudio_teardown(code)
    return code


def _exit_without_portaudio_teardown(code: int) -> None:
    """Leave now, skipping interpreter teardown.

    Everything of ours is closed by this point. What is left is sounddevice's atexit hook,
    ``Pa_Terminate``, which can block for good while a capture stream is still being
    closed on its background thread (seen with PulseAudio under load: "stopped" logged,
    then the process hung past SIGTERM's grace period). A daemon must stop when told to.
    """
    import logging
    import os

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
