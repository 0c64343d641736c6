"""The figures the README quotes describe what ships: the measured model is the shipped one.

When the network or a head changes, `python benchmarks/run.py` must be run again and its
results committed; this test fails until then.
"""

from __future__ import annotations

import json
from pathlib import Path

from streamchill.analyzer.models_bundle import shared_models

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"


def test_the_committed_benchmark_measured_the_shipped_models() -> None:
    machine = json.loads((RESULTS / "latest.json").read_text())["machine"]
    assert machine.get("model_version") == shared_models().version, (
        "benchmarks/results/latest.json measured other models: run `python benchmarks/run.py`"
    )
    assert len(machine.get("commit", "")) >= 7, "the measured commit is recorded"
