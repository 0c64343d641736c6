"""The distilled student on LiteRT: what streamchill.analyzer.model promises for it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from streamchill.analyzer.errors import ModelLoadError
from streamchill.analyzer.heads import LogisticHead
from streamchill.analyzer.model import StudentTagger, shared_student
from streamchill.analyzer.model_files import model_path
from streamchill.analyzer.models_bundle import shared_models

# Float32 weights: the conversion measured max |diff| 3e-7 on tags and 4e-6 on the embedding
# against the TF model over 64 patches; other CPUs' kernels may sum in another order, so the
# promise keeps a wide margin that is still far below anything a head could notice.
TAG_TOL = 1e-4
EMB_TOL = 1e-3


@pytest.fixture(scope="module")
def student() -> StudentTagger:
    return StudentTagger.load()


@pytest.fixture(scope="module")
def reference() -> Any:
    # The TF model's outputs on 4 patches, written when the student was shipped (checkout only).
    return np.load(Path(__file__).resolve().parents[1] / "models" / "student_reference.npz")


def test_shipped_student_reproduces_its_tensorflow_model(
    student: StudentTagger, reference: Any
) -> None:
    msd, emb, mtt = student.predict(reference["patches"])
    np.testing.assert_allclose(msd, reference["msd"], atol=TAG_TOL, rtol=0)
    np.testing.assert_allclose(emb, reference["emb"], atol=EMB_TOL, rtol=0)
    np.testing.assert_allclose(mtt, reference["mtt"], atol=TAG_TOL, rtol=0)


def test_outputs_have_the_promised_shapes_types_and_ranges(
    student: StudentTagger, reference: Any
) -> None:
    msd, emb, mtt = student.predict(reference["patches"][:2])
    assert msd.shape == mtt.shape == (2, 50) and emb.shape == (2, 200)
    assert msd.dtype == emb.dtype == mtt.dtype == np.float32
    assert np.all((msd >= 0) & (msd <= 1)) and np.all((mtt >= 0) & (mtt <= 1))


def test_tag_names_are_msd_and_magnatagatune_in_output_order(student: StudentTagger) -> None:
    assert list(student.tag_names) == json.loads(model_path("msd_tags.json").read_text())
    assert list(student.mtt_tag_names) == json.loads(model_path("mtt_tags.json").read_text())
    assert student.mtt_tag_names[:3] == ("guitar", "classical", "slow")
    assert {"quiet", "ambient", "loud", "metal"} <= set(student.mtt_tag_names)


def test_a_patch_alone_scores_as_it_does_inside_a_batch(
    student: StudentTagger, reference: Any
) -> None:
    batch = student.predict(reference["patches"])
    for i in range(len(reference["patches"])):
        alone = student.predict(reference["patches"][i : i + 1])
        for a, b in zip(alone, batch, strict=True):
            np.testing.assert_allclose(a[0], b[i], atol=1e-4, rtol=0)


def test_an_empty_batch_and_a_wrong_shape(student: StudentTagger) -> None:
    msd, emb, mtt = student.predict(np.zeros((0, 187, 96), np.float32))
    assert msd.shape == mtt.shape == (0, 50) and emb.shape == (0, 200)
    with pytest.raises(ValueError, match=r"\[N, 187, 96\]"):
        student.predict(np.zeros((1, 96, 187), np.float32))


def test_a_missing_student_file_names_the_path_and_the_fix(tmp_path: Path) -> None:
    missing = tmp_path / "nope.tflite"
    with pytest.raises(ModelLoadError, match="does not exist") as err:
        StudentTagger.load(missing)
    assert str(missing) in str(err.value) and "distil_student.py" in str(err.value)


def test_the_teacher_file_is_not_taken_for_the_student() -> None:
    with pytest.raises(ModelLoadError, match="outputs are"):
        StudentTagger.load(model_path("msd_musicnn.tflite"))


def test_the_shared_bundle_holds_the_shared_student() -> None:
    assert shared_student() is shared_student()
    assert shared_models().student is shared_student()


def test_heads_of_the_existing_kinds_ignore_mtt_tags(reference: Any) -> None:
    # The speech head reads embedding + tags; the calm head (v5) is the kind that reads MTT.
    head = LogisticHead.load(model_path("speech_head.json"))
    tags, emb = reference["msd"], reference["emb"]
    np.testing.assert_array_equal(
        head.patch_logits(tags, emb), head.patch_logits(tags, emb, mtt_tags=reference["mtt"])
    )
