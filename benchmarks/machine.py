"""The machine a run measured: core pinning, memory of a process, and a description."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def allowed_cores() -> list[int]:
    """Cores this process may run on (all of them where affinity is not supported)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return list(range(os.cpu_count() or 1))


def pin(core: int, pid: int = 0) -> bool:
    """Pin a process (0 = this one) to one core; False where the OS does not allow it."""
    try:
        os.sched_setaffinity(pid, {core})
    except (AttributeError, OSError, ValueError):
        return False
    return True


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB (VmRSS of /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0  # the kernel reports kB
    raise RuntimeError(f"no VmRSS for pid {pid}")


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages (what else the machine was doing)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def describe() -> dict[str, Any]:
    """CPU model, cores, Python, library versions, commit, date: the table's context."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for dist in ("ai-edge-litert", "essentia", "numpy", "websockets", "soxr"):
        try:
            versions[dist] = version(dist)
        except PackageNotFoundError:
            versions[dist] = None
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    # The results folder itself does not count: a run rewrites it (transitions.json is written
    # before run.py writes latest.json), and what was measured is the code.
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
         ":(exclude)benchmarks/results"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu_model": model,
        "cores": os.cpu_count(),
        "cores_allowed": allowed_cores(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "libraries": versions,
        "commit": commit,
        "uncommitted_changes": bool(dirty),
        "model_version": _model_version(),
        "load_average_at_start": load_average(),
    }


def _model_version() -> str:
    """The shipped bundle's version (network + calm head + speech head) that was measured."""
    from streamchill.analyzer.models_bundle import shared_models

    return shared_models().version
