"""`streamchill catalogue` on a real local Ray: the same verdicts as `analyze`, resume, bad
files as error rows, and a worker process killed mid-run.

One Ray instance (2 CPUs, no dashboard) serves the whole file; the clips are the shipped
examples and short ones cut from them here, so the file runs in well under a minute.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="needs the cluster extra")
pq = pytest.importorskip("pyarrow.parquet")

from streamchill.analyzer.essentia_lib import essentia_standard  # noqa: E402
from streamchill.streamer.catalogue.files import CatalogueFile, list_files  # noqa: E402
from streamchill.streamer.catalogue.run import Summary, run_catalogue  # noqa: E402
from streamchill.streamer.catalogue.table import dataset  # noqa: E402
from streamchill.streamer.commands.analyze import MEDIA_SUFFIXES  # noqa: E402
from streamchill.streamer.commands.cli import main  # noqa: E402
from tests.conftest import example_path  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Any:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    yield
    ray.shutdown()


def write_wav(path: Path, samples: np.ndarray, rate: int = 16_000) -> Path:
    stereo = np.repeat(samples.reshape(-1, 1), 2, axis=1).astype(np.float32)
    essentia_standard().AudioWriter(filename=str(path), format="wav", sampleRate=rate)(stereo)
    return path


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory, examples_16k: dict) -> Path:
    """The three shipped examples, two short clips cut from them, and two files that are not
    audio, in nested folders (plus a text file the walk must leave out)."""
    root = tmp_path_factory.mktemp("library")
    (root / "shipped").mkdir()
    for kind in ("calm", "aggressive", "speech"):
        shutil.copy(example_path(kind), root / "shipped")
    (root / "cut" / "deeper").mkdir(parents=True)
    write_wav(root / "cut" / "calm-8s.wav", examples_16k["calm"][: 8 * 16_000])
    write_wav(root / "cut" / "deeper" / "aggressive-6s.wav", examples_16k["aggressive"][:96_000])
    (root / "bad").mkdir()
    (root / "bad" / "empty.mp3").write_bytes(b"")
    (root / "bad" / "noise.ogg").write_bytes(os.urandom(4096))
    (root / "bad" / "notes.txt").write_text("not listed: not a media suffix")
    return root


def rows(out: Path) -> list[dict[str, Any]]:
    return sorted(dataset(out).to_table().to_pylist(), key=lambda r: r["path"])


@pytest.fixture(scope="module")
def first_run(library: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Summary]:
    out = tmp_path_factory.mktemp("out") / "catalogue"
    files = list_files([library], suffixes=MEDIA_SUFFIXES)
    return out, run_catalogue(files, out, workers=2)


def test_every_file_gets_one_row_and_the_summary_counts_them(
    library: Path, first_run: tuple[Path, Summary]
) -> None:
    out, summary = first_run
    got = rows(out)
    assert len(got) == len({r["path"] for r in got}) == 7
    assert not any(r["path"].endswith(".txt") for r in got)
    assert (summary.listed, summary.ok, summary.failed, summary.skipped) == (7, 5, 2, 0)
    assert summary.audio_s == pytest.approx(20 + 20 + 17.4 + 8 + 6, abs=0.5)
    assert summary.files_per_s > 0 and summary.realtime_x > 1
    assert len(summary.workers) == 2
    assert all(0 <= r["bucket"] < 16 for r in got)
    assert {p.name.split("=")[0] for p in out.iterdir()} == {"bucket"}


def test_verdicts_are_those_of_streamchill_analyze(
    library: Path, first_run: tuple[Path, Summary], capsys: pytest.CaptureFixture[str]
) -> None:
    out, _ = first_run
    judged = [r for r in rows(out) if r["status"] == "ok"]
    rc = main(["analyze", "--json", *(r["path"] for r in judged)])
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rc == 0 and len(printed) == len(judged) == 5
    for row, answer in zip(judged, printed, strict=True):
        assert answer.pop("source") == row["path"]
        assert json.loads(row["verdict_json"]) == answer
        assert (row["state"], row["calm_probability"]) == (
            answer["state"],
            answer["calm_probability"],
        )
        assert row["timestamps"] == answer["timestamps"]
        # The timeline is the per-hop event sequence, about one a second.
        seqs = [hop["seq"] for hop in row["timeline"]]
        assert seqs == list(range(len(seqs))) and len(seqs) >= answer["duration_s"] - 3
    by_name = {Path(r["path"]).name: r["state"] for r in judged}
    assert by_name["calm-8s.wav"] != "aggressive" and by_name["aggressive-6s.wav"] != "calm"
    assert by_name[example_path("calm").name] == "calm"
    assert by_name[example_path("speech").name] == "speech"


def test_files_that_are_not_audio_become_error_rows_with_the_reason(
    first_run: tuple[Path, Summary],
) -> None:
    out, _ = first_run
    errors = {Path(r["path"]).name: r for r in rows(out) if r["status"] == "error"}
    assert set(errors) == {"empty.mp3", "noise.ogg"}
    assert "empty" in errors["empty.mp3"]["error"]
    assert "noise.ogg" in errors["noise.ogg"]["error"]
    assert all(r["state"] is None and r["timeline"] == [] for r in errors.values())


def test_a_rerun_judges_only_what_is_new_or_changed(
    library: Path, first_run: tuple[Path, Summary]
) -> None:
    out, _ = first_run
    before = rows(out)
    again = run_catalogue(list_files([library], suffixes=MEDIA_SUFFIXES), out, workers=2)
    assert (again.skipped, again.ok, again.failed) == (7, 0, 0)
    assert rows(out) == before
    # An edited file (new mtime) is judged again; the rest stay skipped.
    clip = library / "cut" / "calm-8s.wav"
    stat = clip.stat()
    os.utime(clip, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    third = run_catalogue(list_files([library], suffixes=MEDIA_SUFFIXES), out, workers=1)
    assert (third.skipped, third.ok, third.failed) == (6, 1, 0)
    assert sum(Path(r["path"]) == clip for r in rows(out)) == 2  # old key and new key


def test_a_manifest_names_files_relative_to_itself(library: Path, tmp_path: Path) -> None:
    manifest = library / "list.txt"
    manifest.write_text("# two of them\ncut/calm-8s.wav\n\n" + str(library / "bad/empty.mp3"))
    files = list_files([], suffixes=MEDIA_SUFFIXES, manifests=[manifest])
    assert [Path(f.path).name for f in files] == ["empty.mp3", "calm-8s.wav"]  # bad/ < cut/
    assert all(isinstance(f, CatalogueFile) and f.size_bytes >= 0 for f in files)


def test_a_worker_killed_mid_run_loses_nothing_and_doubles_nothing(
    tmp_path: Path, examples_16k: dict
) -> None:
    clips = tmp_path / "clips"
    clips.mkdir()
    for i in range(6):
        kind = ("calm", "aggressive")[i % 2]
        start = i * 16_000
        write_wav(clips / f"{i}-{kind}.wav", examples_16k[kind][start : start + 5 * 16_000])
    files = list_files([clips], suffixes=MEDIA_SUFFIXES)
    killed: list[int] = []

    def kill_first_worker(_file: CatalogueFile, row: dict[str, Any]) -> None:
        if not killed:  # that worker holds its next file: it dies mid-judgement
            pid = int(row["worker"].rsplit(":", 1)[1])
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    out = tmp_path / "out"
    summary = run_catalogue(files, out, workers=2, on_row=kill_first_worker)
    got = rows(out)
    assert killed
    assert sorted(r["path"] for r in got) == sorted(f.path for f in files)
    assert all(r["status"] == "ok" for r in got), [r["error"] for r in got]
    assert (summary.ok, summary.failed) == (6, 0)
    # The restarted worker is a new process: rows came from more than the two first pids.
    assert len({r["worker"] for r in got}) >= 2


def test_the_command_prints_its_summary_and_a_finished_catalogue_costs_no_ray(
    library: Path, first_run: tuple[Path, Summary], capsys: pytest.CaptureFixture[str]
) -> None:
    out, _ = first_run
    assert main(["catalogue", str(library), "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["listed"], summary["skipped"], summary["ok"]) == (7, 7, 0)
    assert summary["workers"] == []  # nothing to judge: no worker was started
    assert main(["catalogue", "--out", str(out)]) == 2
    assert "give folders" in capsys.readouterr().err
    assert main(["catalogue", str(library / "missing"), "--out", str(out)]) == 1
    assert "no such file or directory" in capsys.readouterr().err
