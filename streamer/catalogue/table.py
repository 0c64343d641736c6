"""The catalogue's Parquet layout: one row per file, hive-partitioned by a hash bucket.

``OUT/bucket=NN/part-<run>-<n>.parquet``. Each row holds the verdict ``streamchill analyze``
prints (as columns, plus the exact JSON), the 30 s chunks and the per-hop timeline as lists, or
``status = "error"`` with the reason. Files are written under a dot-name and renamed when
complete, so a run killed mid-write leaves no half file for the next run to trip on (readers
skip dot-files).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from streamchill.streamer.catalogue.files import CatalogueFile

CHUNK = pa.struct(
    [
        ("start", pa.float64()),
        ("end", pa.float64()),
        ("avg_db_deviation", pa.float64()),
        ("bpm", pa.float64()),
        ("danceability", pa.float64()),
        ("loudness_db", pa.float64()),
        ("calm_probability", pa.float64()),
        ("state", pa.string()),
    ]
)
HOP = pa.struct(
    [
        ("seq", pa.int32()),
        ("media_time_s", pa.float64()),
        ("state", pa.string()),
        ("calm_probability", pa.float64()),
        ("speech_probability", pa.float64()),
        ("warming_up", pa.bool_()),
        ("reason", pa.string()),
    ]
)
SCHEMA = pa.schema(
    [
        ("path", pa.string()),
        ("size_bytes", pa.int64()),
        ("mtime_ns", pa.int64()),
        ("status", pa.string()),  # "ok" or "error"
        ("error", pa.string()),
        ("state", pa.string()),
        ("calm_probability", pa.float64()),
        ("aggressive", pa.bool_()),
        ("duration_s", pa.float64()),
        ("verdict_json", pa.string()),  # exactly what `streamchill analyze` prints, less "source"
        ("timestamps", pa.list_(CHUNK)),  # the verdict's 30 s chunks
        ("timeline", pa.list_(HOP)),  # one entry per hop (about 1 s)
        ("judge_s", pa.float64()),  # wall time on the worker, decoding included
        ("cpu_s", pa.float64()),  # CPU time of the worker process on this file
        ("worker", pa.string()),  # "<node id>@<address>:<pid>" of the worker that judged it
        ("run_id", pa.string()),
        ("judged_at", pa.timestamp("ms", tz="UTC")),
    ]
)


def ok_row(file: CatalogueFile, verdict: dict[str, Any], events: Iterable[Any]) -> dict[str, Any]:
    """The row of a judged file (``events`` are the run's ``MoodEvent``s)."""
    return {
        **_key(file),
        "status": "ok",
        "error": None,
        "state": verdict["state"],
        "calm_probability": verdict["calm_probability"],
        "aggressive": verdict["aggressive"],
        "duration_s": verdict["duration_s"],
        "verdict_json": json.dumps(verdict),
        "timestamps": [{k: c.get(k) for k in CHUNK.names} for c in verdict["timestamps"]],
        "timeline": [
            {
                "seq": e.seq,
                "media_time_s": round(e.media_time_s, 3),
                "state": e.state.value,
                "calm_probability": e.calm_probability,
                "speech_probability": e.speech_probability,
                "warming_up": e.warming_up,
                "reason": e.reason,
            }
            for e in events
        ],
    }


def error_row(file: CatalogueFile, reason: str) -> dict[str, Any]:
    """The row of a file that could not be judged, with the reason a user can act on."""
    empty = dict.fromkeys(("state", "calm_probability", "aggressive", "duration_s", "verdict_json"))
    return {**_key(file), "status": "error", "error": reason, **empty, "timestamps": [],
            "timeline": []}  # fmt: skip


def _key(file: CatalogueFile) -> dict[str, Any]:
    return {"path": file.path, "size_bytes": file.size_bytes, "mtime_ns": file.mtime_ns}


def judged_keys(out: Path) -> set[tuple[str, int, int]]:
    """(path, size, mtime) of every row already in ``out``: what a rerun skips."""
    if not out.exists():
        return set()
    table = dataset(out).to_table(columns=["path", "size_bytes", "mtime_ns"])
    cols = [table.column(n).to_pylist() for n in ("path", "size_bytes", "mtime_ns")]
    return set(zip(*cols, strict=True))


def dataset(out: Path) -> ds.Dataset:
    """The output as one dataset (``bucket`` is a column, read from the folder names)."""
    return ds.dataset(out, format="parquet", partitioning="hive", schema=_with_bucket())


def _with_bucket() -> pa.Schema:
    return SCHEMA.append(pa.field("bucket", pa.int32()))


class ParquetSink:
    """Collects rows and writes them out every ``flush_rows`` rows or ``flush_s`` seconds, so a
    driver that dies loses at most that much (the files are judged again on the rerun)."""

    def __init__(self, out: Path, run_id: str, *, flush_rows: int = 64, flush_s: float = 10.0):
        self.out = out
        self.run_id = run_id
        self.flush_rows = flush_rows
        self.flush_s = flush_s
        self._rows: dict[int, list[dict[str, Any]]] = {}
        self._count = 0
        self._parts = 0
        self._last = time.monotonic()
        out.mkdir(parents=True, exist_ok=True)

    def add(self, file: CatalogueFile, row: dict[str, Any]) -> None:
        row = {**row, "run_id": self.run_id, "judged_at": dt.datetime.now(dt.UTC)}
        self._rows.setdefault(file.bucket, []).append(row)
        self._count += 1
        if self._count >= self.flush_rows or time.monotonic() - self._last >= self.flush_s:
            self.flush()

    def flush(self) -> None:
        for bucket, rows in sorted(self._rows.items()):
            folder = self.out / f"bucket={bucket:02d}"
            folder.mkdir(exist_ok=True)
            name = f"part-{self.run_id}-{self._parts:05d}.parquet"
            tmp = folder / f".{name}.tmp"
            pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), tmp)
            os.replace(tmp, folder / name)
        self._parts += 1
        self._rows.clear()
        self._count = 0
        self._last = time.monotonic()
