"""The benchmark scripts still fit the code they measure (they are not run in the suite)."""

from __future__ import annotations

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_the_profile_names_functions_that_exist() -> None:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from profile_stream import _stages
    finally:
        sys.path.remove(str(BENCHMARKS))
    stages = _stages()
    assert stages and all(callable(f) for funcs in stages.values() for f in funcs)
