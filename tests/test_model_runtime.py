"""The musicnn backbone on LiteRT: what streamchill.analyzer.model promises its callers."""

from __future__ import annotations

import builtins
import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from streamchill.analyzer.errors import ModelLoadError
from streamchill.analyzer.model import MODEL_VERSION, MusicnnTagger, shared_tagger
from streamchill.analyzer.model_files import model_path

# The shipped model has float16 weights: the build measured tags within ~1e-3 of the TF graph on
# these patches (3.3e-3 worst case over 44 patches), so 3e-3 is the promise.
TAG_TOL = 3e-3
# Embeddings are pre-activation dense outputs with magnitudes up to ~20; float16 weights move
# them by up to ~2.5e-2 here (relative ~2e-3). 0.1 absolute is 4x that margin and still far below
# anything a head trained on them could notice (their spread across inputs is several units).
EMB_TOL = 0.1


@pytest.fixture(scope="module")
def tagger() -> MusicnnTagger:
    return MusicnnTagger.load()


@pytest.fixture(scope="module")
def reference() -> Any:
    # The reference lives in the checkout only (it is not shipped in the wheel).
    return np.load(Path(__file__).resolve().parents[1] / "models" / "musicnn_reference.npz")


def test_shipped_model_reproduces_the_tensorflow_graph(
    tagger: MusicnnTagger, reference: Any
) -> None:
    tags, emb = tagger.predict(reference["patches"])
    np.testing.assert_allclose(tags, reference["tags"], atol=TAG_TOL, rtol=0)
    np.testing.assert_allclose(emb, reference["embeddings"], atol=EMB_TOL, rtol=0)


def test_outputs_have_the_promised_shapes_and_types(tagger: MusicnnTagger, reference: Any) -> None:
    tags, emb = tagger.predict(reference["patches"][:2])
    assert tags.shape == (2, 50) and tags.dtype == np.float32
    assert emb.shape == (2, 200) and emb.dtype == np.float32
    assert np.all((tags >= 0) & (tags <= 1))


def test_tag_names_are_the_50_msd_tags_in_output_order(tagger: MusicnnTagger) -> None:
    assert len(tagger.tag_names) == 50
    assert tagger.tag_names[:3] == ("rock", "pop", "alternative")
    assert tagger.tag_names[-1] == "happy"
    assert list(tagger.tag_names) == json.loads(model_path("msd_tags.json").read_text())


def test_model_version_names_the_shipped_variant() -> None:
    assert MODEL_VERSION.startswith("msd-musicnn-f16")


def test_repeated_calls_give_identical_outputs(tagger: MusicnnTagger, reference: Any) -> None:
    first = tagger.predict(reference["patches"])
    second = tagger.predict(reference["patches"])
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


def test_a_patch_alone_scores_as_it_does_inside_a_batch(
    tagger: MusicnnTagger, reference: Any
) -> None:
    batch = reference["patches"]
    tags_b, emb_b = tagger.predict(batch)
    for i in range(len(batch)):
        tags_1, emb_1 = tagger.predict(batch[i : i + 1])
        # Same kernels, different batch layout: equal up to float32 summation order.
        np.testing.assert_allclose(tags_1[0], tags_b[i], atol=1e-5, rtol=0)
        np.testing.assert_allclose(emb_1[0], emb_b[i], atol=1e-3, rtol=0)


def test_an_empty_batch_gives_empty_outputs(tagger: MusicnnTagger) -> None:
    tags, emb = tagger.predict(np.zeros((0, 187, 96), np.float32))
    assert tags.shape == (0, 50) and emb.shape == (0, 200)


def test_float64_input_is_accepted(tagger: MusicnnTagger, reference: Any) -> None:
    p = reference["patches"][:1]
    np.testing.assert_array_equal(tagger.predict(p.astype(np.float64))[0], tagger.predict(p)[0])


@pytest.mark.parametrize("shape", [(187, 96), (1, 96, 187), (2, 186, 96), (1, 187, 96, 1)])
def test_a_wrong_patch_shape_is_refused_clearly(
    tagger: MusicnnTagger, shape: tuple[int, ...]
) -> None:
    with pytest.raises(ValueError, match=r"\[N, 187, 96\]"):
        tagger.predict(np.zeros(shape, np.float32))


def test_a_missing_model_file_names_the_path_and_the_fix(tmp_path: Path) -> None:
    missing = tmp_path / "nope.tflite"
    with pytest.raises(ModelLoadError, match="does not exist") as err:
        MusicnnTagger.load(missing)
    assert str(missing) in str(err.value)
    assert "build_musicnn.py" in str(err.value)


@pytest.mark.parametrize("content", [b"", b"garbage" * 100])
def test_a_corrupt_model_file_names_the_path_and_the_fix(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(content)
    with pytest.raises(ModelLoadError, match="corrupt") as err:
        MusicnnTagger.load(bad)
    assert str(bad) in str(err.value)
    assert "reinstall" in str(err.value)


def test_a_missing_runtime_says_which_package_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_import = builtins.__import__

    def no_litert(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("ai_edge_litert"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_litert)
    with pytest.raises(ModelLoadError, match="pip install ai-edge-litert"):
        MusicnnTagger.load()


def test_threads_sharing_one_tagger_get_the_same_answers(
    tagger: MusicnnTagger, reference: Any
) -> None:
    patches = reference["patches"]
    expected = [tagger.predict(patches[i : i + 1])[0] for i in range(len(patches))]
    # Mixed batch sizes force resizes while other threads are running.
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            for r in range(3):
                i = (k + r) % len(patches)
                got = (
                    tagger.predict(patches[i : i + 1])[0]
                    if r % 2
                    else tagger.predict(patches)[0][i : i + 1]
                )
                np.testing.assert_allclose(got, expected[i], atol=1e-5, rtol=0)
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors


def test_the_shared_tagger_is_loaded_once() -> None:
    assert shared_tagger() is shared_tagger()
    assert shared_tagger().tag_names[0] == "rock"


def test_loading_the_model_prints_nothing_on_stderr(tmp_path: Path) -> None:
    """LiteRT's C++ "INFO: Created ... XNNPACK delegate" line is not shown to users."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", "from streamchill.analyzer.model import MusicnnTagger; "
         "MusicnnTagger.load().predict(__import__('numpy').zeros((1, 187, 96), 'float32'))"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""


def test_the_stderr_filter_keeps_every_other_line(capfd: pytest.CaptureFixture[str]) -> None:
    import os

    from streamchill.analyzer.model import _litert_info_filtered

    with _litert_info_filtered():
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
        os.write(2, b"ERROR: something real went wrong\n")
    assert capfd.readouterr().err == "ERROR: something real went wrong\n"
