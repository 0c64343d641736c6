"""Speed work must not move the answers: the events of fixed inputs, pinned as recorded.

Two streams cover every per-hop and per-patch stage: the shipped music examples in turn
(80 s, 44.1 kHz stereo in 100 ms blocks, as a browser tab sends: the window fills, DFA
danceability refreshes, the music changes), and speech, a hum, white noise and silence
(48 kHz stereo int16 in 100 ms blocks: the steady-tone checks and the silence gate). Each
event's state, reason and flags must be identical, its probabilities, features and tags
equal within float noise.

The recording (``tests/data/session_golden.json``) names the model version it was made
with. A change that is *meant* to change the answers (a new backbone, new heads, another
schedule) regenerates it, after checking the new answers elsewhere:
``python -m tests.test_session_golden``.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import example_path
from tests.support.signals import mains_hum, white_noise

GOLDEN = Path(__file__).parent / "data" / "session_golden.json"
TOLERANCE = {
    "calm_probability": 1e-4,
    "speech_probability": 1e-4,
    "danceability": 1e-4,
    "bpm": 1e-2,
    "avg_db_deviation": 1e-3,
    "loudness_db": 1e-3,
    "tag": 1e-4,
}


def _decoded(kind: str) -> tuple[np.ndarray, int]:
    from streamchill.streamer.sources.decode import decode_file

    audio = decode_file(example_path(kind))
    return audio.samples, audio.sample_rate_hz


def _inputs() -> dict[str, tuple[np.ndarray, int]]:
    """stream name -> (samples [frames, 2], rate)."""
    import soxr

    aggressive, rate = _decoded("aggressive")
    calm, calm_rate = _decoded("calm")
    assert calm_rate == rate and aggressive.shape[1] == calm.shape[1] == 2
    music = np.concatenate([aggressive, calm, aggressive, calm])
    speech, speech_rate = _decoded("speech")
    speech_48k = soxr.resample(speech.mean(axis=1), speech_rate, 48_000)
    mono = np.concatenate(
        [
            speech_48k,
            mains_hum(8.0, 48_000),
            white_noise(8.0, 48_000),
            np.zeros(48_000 * 4, np.float32),
        ]
    )
    other = np.round(np.stack([mono, mono], axis=1) * 32767 * 0.8).astype(np.int16)
    return {"music": (music.astype(np.float32), rate), "other": (other, 48_000)}


def _run(samples: np.ndarray, rate: int) -> list[dict[str, Any]]:
    from streamchill.analyzer.session import Session

    session = Session("golden", sample_rate_hz=rate, channels=2)
    step = round(0.1 * rate)
    events = []
    for i in range(0, len(samples), step):
        events += session.feed(samples[i : i + step])
    events += session.finish()
    return [_record(e) for e in events]


def _record(event: Any) -> dict[str, Any]:
    f = event.features
    return {
        "seq": event.seq,
        "media_time_s": event.media_time_s,
        "window_start_s": event.window_start_s,
        "state": event.state.value,
        "changed": event.changed,
        "warming_up": event.warming_up,
        "reason": event.reason,
        "calm_probability": event.calm_probability,
        "speech_probability": event.speech_probability,
        "danceability": f.danceability,
        "bpm": f.bpm,
        "avg_db_deviation": f.avg_db_deviation,
        "loudness_db": f.loudness_db,
        "tags": [list(t) for t in event.top_tags],
        "model_version": event.model_version,
    }


def _record_all() -> dict[str, list[dict[str, Any]]]:
    return {name: _run(samples, rate) for name, (samples, rate) in _inputs().items()}


def _differences(want: dict[str, Any], got: dict[str, Any]) -> list[str]:
    out = []
    for key, expected in want.items():
        actual = got[key]
        if key == "tags":
            names_ok = [t[0] for t in expected] == [t[0] for t in actual]
            values_ok = all(
                math.isclose(a[1], b[1], abs_tol=TOLERANCE["tag"])
                for a, b in zip(expected, actual, strict=True)
            )
            if not (names_ok and values_ok):
                out.append(f"tags {expected} != {actual}")
        elif key in TOLERANCE and expected is not None and actual is not None:
            if not math.isclose(expected, actual, rel_tol=1e-6, abs_tol=TOLERANCE[key]):
                out.append(f"{key} {expected} != {actual}")
        elif expected != actual:
            out.append(f"{key} {expected!r} != {actual!r}")
    return out


@pytest.fixture(scope="module")
def recorded() -> dict[str, Any]:
    return dict(json.loads(GOLDEN.read_text()))


@pytest.fixture(scope="module")
def current() -> dict[str, list[dict[str, Any]]]:
    return _record_all()


@pytest.mark.parametrize("stream", ["music", "other"])
def test_events_are_as_recorded(
    stream: str, recorded: dict[str, Any], current: dict[str, list[dict[str, Any]]]
) -> None:
    want, got = recorded[stream], current[stream]
    if got and want and got[0]["model_version"] != want[0]["model_version"]:
        pytest.fail(
            f"the models changed ({want[0]['model_version']} -> {got[0]['model_version']}): "
            "check the new answers, then regenerate with `python -m tests.test_session_golden`"
        )
    assert len(got) == len(want)
    problems = [
        f"{stream} event {w['seq']} ({w['media_time_s']:.1f} s): {d}"
        for w, g in zip(want, got, strict=True)
        for d in _differences(w, g)
    ]
    assert not problems, "\n".join(problems[:20])


def test_the_recording_covers_every_stage(recorded: dict[str, Any]) -> None:
    reasons = {e["reason"] for events in recorded.values() for e in events}
    states = {e["state"] for events in recorded.values() for e in events}
    assert {"music_change", "steady_tone", "noise"} <= reasons
    assert {"calm", "aggressive", "speech", "silence"} <= states, states
    dances = {round(e["danceability"], 3) for e in recorded["music"]}
    assert len(dances) >= 4  # refreshed several times


def test_a_reused_input_buffer_does_not_change_held_audio() -> None:
    """The session holds 16 kHz audio until its hop ends; a capture loop that refills one
    buffer for every block must not overwrite what is held."""
    from streamchill.analyzer.session import Session

    samples, rate = _decoded("calm")
    import soxr

    mono = soxr.resample(samples.mean(axis=1), rate, 16_000).astype(np.float32)[: 16_000 * 6]
    fresh, reused = (Session(name, sample_rate_hz=16_000) for name in ("fresh", "reused"))
    buffer = np.empty(1_600, np.float32)
    got_fresh, got_reused = [], []
    for i in range(0, len(mono) - 1_600 + 1, 1_600):
        got_fresh += fresh.feed(mono[i : i + 1_600].copy())
        buffer[:] = mono[i : i + 1_600]
        got_reused += reused.feed(buffer)
    assert got_fresh and [e.to_json() for e in got_fresh] == [
        e.to_json().replace('"reused"', '"fresh"') for e in got_reused
    ]


def test_held_audio_still_judges_a_patch_in_the_block_that_completes_it() -> None:
    """The session holds 0.1 s blocks until the hop ends, except that a patch is judged in
    the block that completes it (mid-hop, so the CNN's time does not delay a hop's event)."""
    from streamchill.analyzer.mel import HOP_SIZE, PATCH_FRAMES
    from streamchill.analyzer.session import Session

    samples, rate = _decoded("calm")
    import soxr

    mono = soxr.resample(samples.mean(axis=1), rate, 16_000).astype(np.float32)[: 16_000 * 12]
    session = Session("timing", sample_rate_hz=16_000, keep_history=True)
    assert session.history is not None
    judged_in = {}
    for i in range(0, len(mono), 1_600):
        session.feed(mono[i : i + 1_600])
        for patch in session.history[len(judged_in) :]:
            judged_in[patch.start_frame] = i + 1_600  # the feed's last sample
    assert len(judged_in) >= 3
    for start, block_end in judged_in.items():
        complete = (start + PATCH_FRAMES) * HOP_SIZE  # its last frame's samples are in
        assert block_end - 1_600 < complete <= block_end, (start, block_end)
    # Mid-hop patches do exist (the grid sits half a hop off the hop boundaries).
    assert any(b % 16_000 for b in judged_in.values())


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(_record_all(), indent=1) + "\n")
    print(f"wrote {GOLDEN}", file=sys.stderr)
