"""What a catalogue run judges: files under paths or in a manifest, each with its resume key.

A file is known by its absolute path, size and modification time: a rerun skips a file whose
three match a row already written, and judges it again once it was replaced or edited.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

from streamchill.streamer.errors import SourceError

BUCKETS = 16
"""Hive partitions of the output (``bucket=00`` ... ``bucket=15``), chosen by a hash of the path:
a catalogue of a million files gives partitions of ~60 000 rows, and a reader can take one."""


@dataclass(frozen=True)
class CatalogueFile:
    """One file to judge, with the key that says whether it was judged already."""

    path: str
    """Absolute path, as the workers open it (the same on every node of a cluster)."""
    size_bytes: int
    mtime_ns: int
    """Modification time in nanoseconds since the epoch."""

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.path, self.size_bytes, self.mtime_ns)

    @property
    def bucket(self) -> int:
        """A stable hash bucket (crc32 of the path), the same in every run and process."""
        return zlib.crc32(self.path.encode()) % BUCKETS


def stat_file(path: Path) -> CatalogueFile:
    """The key of ``path``; a file that vanished still gets a row (size and time -1)."""
    absolute = os.path.abspath(path)
    try:
        st = os.stat(absolute)
    except OSError:
        return CatalogueFile(absolute, -1, -1)
    return CatalogueFile(absolute, st.st_size, st.st_mtime_ns)


def read_manifest(manifest: Path) -> list[Path]:
    """Paths listed one per line (blank lines and ``#`` comments skipped), relative to the
    manifest's folder when not absolute."""
    try:
        lines = manifest.read_text().splitlines()
    except OSError as exc:
        raise SourceError(f"{manifest}: cannot read the manifest ({exc.strerror})") from exc
    base = manifest.parent
    out = []
    for line in lines:
        item = line.strip()
        if item and not item.startswith("#"):
            out.append(Path(item) if os.path.isabs(item) else base / item)
    return out


def list_files(
    paths: Iterable[Path], *, suffixes: Collection[str], manifests: Iterable[Path] = ()
) -> list[CatalogueFile]:
    """Media files under ``paths`` (directories walked, by suffix) and those the manifests name
    (kept whatever their suffix: a listed file that is not audio becomes an error row).

    Sorted by path and without duplicates, so two runs over the same tree list the same."""
    found: dict[str, CatalogueFile] = {}
    for path in paths:
        if path.is_dir():
            for root, _dirs, names in os.walk(path):
                for name in names:
                    if Path(name).suffix.lower() in suffixes:
                        entry = stat_file(Path(root) / name)
                        found[entry.path] = entry
        elif path.exists():
            entry = stat_file(path)
            found[entry.path] = entry
        else:
            raise SourceError(f"{path}: no such file or directory")
    for manifest in manifests:
        for path in read_manifest(manifest):
            entry = stat_file(path)
            found[entry.path] = entry
    return [found[p] for p in sorted(found)]
