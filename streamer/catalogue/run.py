"""One catalogue run: skip what is judged, judge the rest on Ray, write rows, count.

Ray is imported only through :mod:`.workers`, and only once there is something to judge, so a
rerun over a finished catalogue answers without starting Ray at all.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from streamchill.streamer.catalogue.files import CatalogueFile
from streamchill.streamer.catalogue.table import ParquetSink, judged_keys

RowHook = Callable[[CatalogueFile, dict[str, Any]], None]


@dataclass
class Summary:
    """What a run did; the rates count from the moment the workers were ready."""

    listed: int = 0
    skipped: int = 0
    """Files whose (path, size, mtime) already had a row: judged by an earlier run."""
    ok: int = 0
    failed: int = 0
    audio_s: float = 0.0
    """Seconds of audio judged (files that failed count nothing)."""
    cpu_s: float = 0.0
    """CPU seconds the workers spent on the files (start-up excluded): what a dedicated core
    would need, whatever else the machine was doing."""
    startup_s: float = 0.0
    """Starting or joining Ray and loading the model on every worker, in seconds."""
    judging_s: float = 0.0
    """Wall time from workers ready to the last row written, in seconds."""
    workers: list[str] = field(default_factory=list)

    @property
    def files_per_s(self) -> float:
        return (self.ok + self.failed) / self.judging_s if self.judging_s > 0 else 0.0

    @property
    def realtime_x(self) -> float:
        """Audio seconds judged per wall second (x real time)."""
        return self.audio_s / self.judging_s if self.judging_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "audio_s": round(self.audio_s, 3),
            "startup_s": round(self.startup_s, 3),
            "judging_s": round(self.judging_s, 3),
            "cpu_s": round(self.cpu_s, 3),
            "audio_hours": round(self.audio_s / 3600, 4),
            "files_per_s": round(self.files_per_s, 3),
            "realtime_x": round(self.realtime_x, 1),
        }

    def text(self) -> str:
        """The closing lines for a terminal."""
        return (
            f"{self.ok} judged, {self.failed} failed, {self.skipped} already done"
            f" (of {self.listed}); {self.audio_s / 3600:.2f} h of audio in {self.judging_s:.1f} s"
            f" on {len(self.workers)} workers: {self.files_per_s:.2f} files/s,"
            f" {self.realtime_x:.0f}x real time (startup {self.startup_s:.1f} s)"
        )


def run_catalogue(
    files: Sequence[CatalogueFile],
    out: Path,
    *,
    address: str | None = None,
    workers: int | None = None,
    on_row: RowHook | None = None,
) -> Summary:
    """Judge every file of ``files`` without a row in ``out`` yet, and write their rows.

    ``on_row`` sees each row as it is written (progress displays, tests)."""
    summary = Summary(listed=len(files))
    known = judged_keys(out)
    todo = [f for f in files if f.key not in known]
    summary.skipped = len(files) - len(todo)
    if not todo:
        return summary
    from streamchill.streamer.catalogue.workers import judge_all, ray_session

    run_id = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{os.getpid()}"
    sink = ParquetSink(out, run_id)
    started = time.perf_counter()
    ready_at = started

    def ready(infos: list[dict[str, Any]]) -> None:
        nonlocal ready_at
        ready_at = time.perf_counter()
        summary.workers = [i["worker"] for i in infos]

    def take(file: CatalogueFile, row: dict[str, Any]) -> None:
        sink.add(file, row)
        summary.cpu_s += row.get("cpu_s") or 0.0
        if row["status"] == "ok":
            summary.ok += 1
            summary.audio_s += row["duration_s"] or 0.0
        else:
            summary.failed += 1
        if on_row is not None:
            on_row(file, row)

    try:
        with ray_session(address, workers) as n:
            judge_all(todo, take, workers=n, on_ready=ready)
    finally:
        sink.flush()  # what was judged before an interrupt is kept for the rerun
    summary.startup_s = ready_at - started
    summary.judging_s = time.perf_counter() - ready_at
    return summary
