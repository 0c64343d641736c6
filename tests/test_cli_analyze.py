"""`streamchill analyze`: seed-compatible verdicts, and one clear line for every bad input."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from streamchill.streamer.commands.cli import main
from tests.conftest import example_path
from tests.support.media import Format, write_media

SCHEMAS = Path(__file__).parents[1] / "analyzer" / "schema"
VERDICT = json.loads((SCHEMAS / "verdict.schema.json").read_text())
EVENT = json.loads((SCHEMAS / "events.schema.json").read_text())


def analyze(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict], str]:
    rc = main(["analyze", *args])
    out, err = capsys.readouterr()
    return rc, [json.loads(line) for line in out.splitlines() if line.strip()], err


FORMATS = {
    ".wav": Format(".wav", "wav", "pcm_s16le"),
    ".flac": Format(".flac", "flac", "flac"),
    ".mp3": Format(".mp3", "mp3", "libmp3lame"),
}


def write_audio(path: Path, samples: np.ndarray, rate: int = 16_000) -> Path:
    stereo = np.repeat(samples.reshape(-1, 1), 2, axis=1).astype(np.float32)
    return write_media(path, stereo, rate, FORMATS[path.suffix])


def test_shipped_examples_get_seed_shaped_verdicts(capsys: pytest.CaptureFixture[str]) -> None:
    rc, results, err = analyze(capsys, str(example_path("calm")), str(example_path("aggressive")))
    assert rc == 0, err
    for result in results:
        jsonschema.validate(result, VERDICT)
    calm, aggressive = results
    assert calm["state"] == "calm" and calm["aggressive"] is False
    assert calm["calm_probability"] > 0.65
    assert aggressive["state"] == "aggressive" and aggressive["aggressive"] is True
    assert aggressive["calm_probability"] < 0.35


def test_a_speech_verdict_carries_no_calm_probability(capsys: pytest.CaptureFixture[str]) -> None:
    rc, (result,), err = analyze(capsys, str(example_path("speech")))
    assert rc == 0, err
    jsonschema.validate(result, VERDICT)
    assert result["state"] == "speech" and result["calm_probability"] is None
    assert all(c["calm_probability"] is None for c in result["timestamps"])


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".mp3"])
def test_common_formats_decode_to_the_same_judgement(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], examples_16k: dict, suffix: str
) -> None:
    path = write_audio(tmp_path / f"calm{suffix}", examples_16k["calm"])
    rc, (result,), _ = analyze(capsys, str(path))
    assert rc == 0 and result["state"] == "calm"


def test_events_flag_prints_schema_valid_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    rc, events, _ = analyze(capsys, "--events", str(example_path("calm")))
    assert rc == 0 and len(events) >= 15
    for event in events:
        jsonschema.validate(event, EVENT)
    assert [e["seq"] for e in events] == list(range(len(events)))


def test_all_silent_audio_is_a_verdict_not_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_audio(tmp_path / "silence.wav", np.zeros(16_000 * 40, np.float32))
    rc, (result,), err = analyze(capsys, str(path))
    assert rc == 0, err
    jsonschema.validate(result, VERDICT)
    assert result["state"] == "silence" and result["calm_probability"] is None
    assert [c["state"] for c in result["timestamps"]] == ["silence", "silence"]


def bad_inputs(tmp: Path) -> dict[str, tuple[Path, str]]:
    (tmp / "empty.mp3").write_bytes(b"")
    (tmp / "corrupt.mp3").write_bytes(b"ID3" + bytes(range(256)) * 40)
    (tmp / "notes.txt").write_text("this is not audio\n" * 50)
    return {
        "missing": (tmp / "nope.ogg", "no such file"),
        "empty": (tmp / "empty.mp3", "empty"),
        "corrupt": (tmp / "corrupt.mp3", "not a readable audio"),
        "non-audio": (tmp / "notes.txt", "not a readable audio"),
    }


@pytest.mark.parametrize("case", ["missing", "empty", "corrupt", "non-audio"])
def test_bad_input_gives_one_clear_line_and_exit_code_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    path, message = bad_inputs(tmp_path)[case]
    rc, results, err = analyze(capsys, str(path))
    assert rc == 1 and results == []
    assert len(err.strip().splitlines()) == 1
    assert message in err and str(path) in err and "Traceback" not in err


def test_one_bad_file_does_not_stop_the_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], examples_16k: dict
) -> None:
    folder = tmp_path / "music"
    folder.mkdir()
    write_audio(folder / "a-good.wav", examples_16k["aggressive"])
    (folder / "b-broken.mp3").write_bytes(b"\x00" * 1000)
    rc, results, err = analyze(capsys, "--jobs", "2", str(folder))
    assert rc == 1
    assert [Path(r["source"]).name for r in results] == ["a-good.wav"]
    assert "b-broken.mp3" in err


@pytest.fixture
def http_server(tmp_path: Path, decoded_examples: dict) -> Iterator[str]:
    """A local web server (never the internet) serving two media files and 404s.

    ``track.webm`` is Opus in WebM, what YouTube serves as its best audio (itag 251)."""
    (tmp_path / "track.ogg").write_bytes(example_path("calm").read_bytes())
    samples, rate = decoded_examples["calm"]
    write_media(tmp_path / "track.webm", samples, rate, Format(".webm", "webm", "libopus", 48_000))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_url_is_fetched_with_yt_dlp(http_server: str, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("yt_dlp")
    rc, (result,), err = analyze(capsys, f"{http_server}/track.ogg")
    assert rc == 0, err
    assert result["state"] == "calm"


def test_webm_opus_url_like_youtube_gets_a_verdict(
    http_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("yt_dlp")
    rc, (result,), err = analyze(capsys, f"{http_server}/track.webm")
    assert rc == 0, err
    assert result["state"] == "calm" and result["duration_s"] == pytest.approx(20.0, abs=0.1)


def test_failing_url_is_a_clear_error(http_server: str, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("yt_dlp")
    rc, _, err = analyze(capsys, f"{http_server}/missing.ogg")
    assert rc == 1 and "cannot fetch" in err and "Traceback" not in err
