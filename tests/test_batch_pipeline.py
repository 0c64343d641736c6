"""Batch analysis as a pipeline: decoding ahead on a thread, bounded; larger blocks and the
decoder's fast path change nothing in the judgement."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from streamchill.analyzer.session import Session
from streamchill.analyzer.summary import summarize
from streamchill.streamer import batch
from streamchill.streamer.sources.decode import AudioFile, decode_file, open_audio
from streamchill.streamer.sources.prefetch import decoded_ahead
from tests.conftest import example_path

T = 10.0  # seconds any wait on the producer thread may take


class Counted:
    """A block source that records how far it has been pulled and whether it was closed."""

    def __init__(self, n: int, *, fail_at: int | None = None) -> None:
        self.n, self.fail_at = n, fail_at
        self.produced = 0
        self.closed = threading.Event()
        self.pulled = threading.Condition()

    def __iter__(self) -> Iterator[int]:
        try:
            for i in range(self.n):
                if i == self.fail_at:
                    raise OSError(f"block {i} is unreadable")
                with self.pulled:
                    self.produced += 1
                    self.pulled.notify_all()
                yield i
        finally:
            self.closed.set()

    def wait_for(self, produced: int) -> None:
        with self.pulled:
            assert self.pulled.wait_for(lambda: self.produced >= produced, T)


def test_decoded_ahead_yields_everything_in_order() -> None:
    assert list(decoded_ahead(iter(Counted(50)), depth=3)) == list(range(50))


def test_decoded_ahead_stays_within_its_depth() -> None:
    source = Counted(100)
    ahead = decoded_ahead(iter(source), depth=4)
    for taken in range(1, 20):
        next(ahead)
        # The producer fills the queue and then holds one more block it cannot hand over.
        source.wait_for(min(100, taken + 4))
        assert source.produced <= taken + 4 + 1
    ahead.close()


def test_a_decoding_error_reaches_the_consumer_after_the_good_blocks() -> None:
    got: list[int] = []
    with pytest.raises(OSError, match="block 7 is unreadable"):
        for item in decoded_ahead(iter(Counted(20, fail_at=7)), depth=2):
            got.append(item)
    assert got == list(range(7))


def test_stopping_early_stops_the_decoder_before_returning() -> None:
    source = Counted(1_000_000)
    ahead = decoded_ahead(iter(source), depth=2)
    assert next(ahead) == 0
    ahead.close()
    # Joined, not just asked: the source was closed on the producer's thread already.
    assert source.closed.is_set()
    assert not any(t.name == "decode-ahead" for t in threading.enumerate())


def analysed_as_before(path: Path) -> tuple[list[str], dict]:
    """What ``analyze`` answered before the pipeline: 0.1 s blocks, decoded inline."""
    audio = decode_file(path)
    session = Session(
        str(path), sample_rate_hz=audio.sample_rate_hz, channels=audio.channels, keep_history=True
    )
    events = []
    for block in audio.blocks(batch.BLOCK_S):
        events.extend(session.feed(block))
    events.extend(session.finish())
    assert session.history is not None
    verdict = summarize(
        events,
        session.history,
        session.models.calm,
        duration_s=audio.duration_s,
        silence_db=session.config.silence_db,
    )
    return [e.to_json() for e in events], verdict


def same_up_to_float_noise(a: Any, b: Any) -> bool:
    """Equal structure, strings, states and counts; floats within 1e-5 (relative or absolute)."""
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and a.keys() == b.keys()
            and all(same_up_to_float_noise(a[k], b[k]) for k in a)
        )
    if isinstance(a, list | tuple):
        return (
            isinstance(b, list | tuple)
            and len(a) == len(b)
            and all(same_up_to_float_noise(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, float) and isinstance(b, float | int):
        return math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-5)
    return bool(a == b)


@pytest.mark.parametrize("kind", ["calm", "speech"])
def test_the_batch_pipeline_judges_the_shipped_examples_as_before(kind: str) -> None:
    path = example_path(kind)
    before_events, before_verdict = analysed_as_before(path)
    result = batch.analyze_source(str(path))
    after_events = [json.loads(e.to_json()) for e in result.events]
    assert same_up_to_float_noise(after_events, [json.loads(e) for e in before_events])
    assert same_up_to_float_noise(result.verdict, before_verdict)


def test_planar_float_frames_decode_to_the_converters_samples(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = example_path("aggressive")  # Vorbis: planar float frames
    with open_audio(path) as audio:
        assert audio._direct(next(audio._container.decode(audio._stream)))
    direct = decode_file(path).samples
    monkeypatch.setattr(AudioFile, "_direct", lambda self, frame: False)
    converted = decode_file(path).samples
    assert direct.shape == converted.shape and direct.flags.c_contiguous
    assert np.array_equal(direct, converted)
