"""``streamchill devices``: the input devices PortAudio sees, and which one records the
system's output (what ``--capture system`` would use)."""

from __future__ import annotations

import argparse
import json
import sys


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON object per device")


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from streamchill.streamer.sources.capture import (
        CaptureError,
        default_sink_monitor,
        list_devices,
        resolve_device,
    )

    try:
        devices = list_devices()
    except OSError as exc:  # PortAudio missing: sounddevice raises OSError on import
        print(f"streamchill devices: cannot list audio devices: {exc}", file=sys.stderr)
        return 1
    try:
        system, env = resolve_device("system")
        system_index: int | None = system.index
    except CaptureError as exc:
        system_index, env = None, {}
        why = str(exc)
    if args.json:
        for d in devices:
            print(json.dumps({**asdict(d), "system_capture": d.index == system_index}))
        return 0
    if not devices:
        print("no input devices found")
    for d in devices:
        mark = "*" if d.index == system_index else " "
        print(f"{mark} {d.index:3d}  {d.name}  ({d.hostapi}, {d.channels} ch, "
              f"{d.default_rate_hz:.0f} Hz)")  # fmt: skip
    if system_index is not None:
        source = f", recording {env['PULSE_SOURCE']}" if env.get("PULSE_SOURCE") else ""
        print(f"\n* = what `--capture system` uses{source}")
    else:
        monitor = default_sink_monitor()
        hint = f" (monitor source: {monitor})" if monitor else ""
        print(f"\nno system-output capture available: {why}{hint}; see docs/daemon.md")
    return 0
