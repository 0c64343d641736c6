"""The ``check`` stage of ``distil_student.py``: numerics, cost and fidelity (runtime venv).

* numerics: the LiteRT files against the TF model's outputs on the reference patches;
* cost: one patch, one thread, CPU ms (median of many calls after a warm-up), student and both
  teachers side by side on the same patches, like ``measure_runtime.py``;
* fidelity: on the set-aside sources' clips (never seen by the student) the student's MSD
  tags, calm prior logit, embedding and MTT tags against the teachers'.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np


class LiteRtRunner:
    """One LiteRT interpreter for a batch of patches; it re-allocates only when the batch
    size changes (re-allocating costs about as much as a patch). Shared by the student and
    the MTT teacher (``distil_student.MttTeacher``)."""

    def __init__(self, path: Path, num_threads: int = 1) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self._it = Interpreter(model_path=str(path), num_threads=num_threads)
        self._it.allocate_tensors()
        self._in = self._it.get_input_details()[0]["index"]
        self._n = int(self._it.get_input_details()[0]["shape"][0])
        self.outputs: list[dict[str, Any]] = self._it.get_output_details()

    def run(self, x: np.ndarray) -> None:
        if len(x) != self._n:
            self._it.resize_tensor_input(self._in, list(x.shape))
            self._it.allocate_tensors()
            self._n = len(x)
        self._it.set_tensor(self._in, np.ascontiguousarray(x, dtype=np.float32))
        self._it.invoke()

    def output(self, index: int) -> np.ndarray:
        """A copy: the interpreter reuses its output buffers on the next call."""
        return np.array(self._it.get_tensor(index), dtype=np.float32)


class StudentTagger:
    """The student on LiteRT: predict() gives (MSD tags, embedding) like MusicnnTagger,
    predict3() adds the MTT tags. Outputs are told apart by shape and, for the two 50-wide
    heads, by the reference outputs written at conversion."""

    def __init__(self, path: Path, reference: Path, num_threads: int = 1) -> None:
        self.path = path
        self._rt = LiteRtRunner(path, num_threads)
        outs = self._rt.outputs
        emb = [d["index"] for d in outs if d["shape"][-1] == 200]
        fifty = [d["index"] for d in outs if d["shape"][-1] == 50]
        self._emb = emb[0]
        with np.load(reference) as ref:
            x, msd = ref["x"][:4], ref["msd"][:4]
        self._msd, self._mtt = fifty
        self._rt.run(x)
        get = self._rt.output
        if np.abs(get(self._mtt) - msd).mean() < np.abs(get(self._msd) - msd).mean():
            self._msd, self._mtt = self._mtt, self._msd

    def predict3(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if len(x) == 0:
            return (
                np.zeros((0, 50), np.float32),
                np.zeros((0, 200), np.float32),
                np.zeros((0, 50), np.float32),
            )
        self._rt.run(x)
        get = self._rt.output
        return get(self._msd), get(self._emb), get(self._mtt)

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tags, emb, _ = self.predict3(x)
        return tags, emb


def cpu_ms_per_patch(predict: Any, patch: np.ndarray, runs: int = 100) -> tuple[float, float]:
    """(median, min) CPU ms of one single-patch call, after a warm-up."""
    for _ in range(10):
        predict(patch)
    cpu = []
    for _ in range(runs):
        c0 = time.process_time()
        predict(patch)
        cpu.append((time.process_time() - c0) * 1e3)
    return statistics.median(cpu), min(cpu)


def check(out: Path) -> dict:
    """Print and return numerics, cost and set-aside fidelity; writes student_check.json."""
    from distil_student import MTT_TEACHER, MttTeacher, holdout_rows
    from feature_cache import clip_patches

    from streamchill.analyzer.baseline import tag_prior_logit
    from streamchill.analyzer.model import MusicnnTagger

    ref = np.load(out / "student_reference.npz")
    report: dict[str, Any] = {"numerics": {}, "cost_ms_cpu_one_thread": {}}
    students = {n: StudentTagger(out / n, out / "student_reference.npz") for n in
                ("student_f32.tflite", "student_f16.tflite")}  # fmt: skip
    for name, st in students.items():
        m, e, t = st.predict3(ref["x"])
        report["numerics"][name] = {
            "msd_max_abs": float(np.abs(m - ref["msd"]).max()),
            "mtt_max_abs": float(np.abs(t - ref["mtt"]).max()),
            "emb_max_abs": float(np.abs(e - ref["emb"]).max()),
        }
    msd, mtt = MusicnnTagger.load(num_threads=1), MttTeacher(MTT_TEACHER)
    patch = ref["x"][:1].astype(np.float32)
    timed = {"msd_musicnn (teacher)": msd.predict, "mtt_musicnn (teacher)": mtt.predict}
    timed.update({n: s.predict3 for n, s in students.items()})
    for name, fn in timed.items():
        med, lo = cpu_ms_per_patch(fn, patch)
        report["cost_ms_cpu_one_thread"][name] = {"median": round(med, 2), "min": round(lo, 2)}

    st = students["student_f32.tflite"]
    acc: dict[str, list[np.ndarray]] = {k: [] for k in ("tm", "sm", "te", "se", "tt", "ss")}
    for row in holdout_rows():
        p = clip_patches(row)
        if len(p) == 0:
            continue
        tm, te = msd.predict(p)
        sm, se, ss = st.predict3(p)
        for k, v in (("tm", tm), ("te", te), ("sm", sm), ("se", se), ("ss", ss)):
            acc[k].append(v)
        acc["tt"].append(np.concatenate([mtt.predict(p[i : i + 1]) for i in range(len(p))]))
    tm, sm, te, se, tt, ss = (np.concatenate(acc[k]) for k in ("tm", "sm", "te", "se", "tt", "ss"))
    report["set_aside_fidelity"] = {
        "patches": len(tm),
        "msd_tags_mae": float(np.abs(tm - sm).mean()),
        "mtt_tags_mae": float(np.abs(tt - ss).mean()),
        "embedding_r2": float(1 - ((te - se) ** 2).sum() / ((te - te.mean(0)) ** 2).sum()),
        "msd_prior_logit_corr": float(np.corrcoef(tag_prior_logit(tm), tag_prior_logit(sm))[0, 1]),
    }
    (out / "student_check.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    return report
