"""A built wheel, installed into a clean environment, is one namespace and works from anywhere."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "models" / "examples" / "calm-mountain-idyll.ogg"
TOOLS_LEFT_OUT = ("train_heads.py", "build_musicnn.py", "measure_runtime.py", "build_devset.py")

NOT_SOURCE = (".*", "build", "data", "dist", "node_modules", "__pycache__", "*.egg-info")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # Built from a copy: setuptools' build/ folder inside the checkout could keep stale files.
    source = out / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(source)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    (found,) = out.glob("streamchill-*.whl")
    return found


def test_the_wheel_adds_only_the_streamchill_namespace(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top == {"streamchill"}
    assert "streamchill/models/msd_musicnn.tflite" in names
    assert "streamchill/models/calm_head.json" in names
    for shipped in ("student_msd_mtt.tflite", "mtt_tags.json", "speech_head_student.json"):
        assert f"streamchill/models/{shipped}" in names  # the cascade's student
    assert "streamchill/models/LICENSE-musicnn.txt" in names
    assert "streamchill/streamer/catalogue/workers.py" in names  # the `cluster` extra's code
    left_in = [n for n in names if n.endswith(TOOLS_LEFT_OUT) or "/devset/" in n]
    assert not left_in, f"training/build tools shipped in the wheel: {left_in}"


def test_an_installed_wheel_analyzes_a_file_from_another_directory(
    wheel: Path, tmp_path: Path
) -> None:
    # A clean venv whose only view of the dependencies is this interpreter's site-packages
    # (a plain path, so the checkout's editable-install hook is not loaded there).
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
         "--no-deps", "-q", str(wheel)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = subprocess.run(
        [str(venv / "bin" / "streamchill"), "analyze", "--json", str(EXAMPLE)],
        cwd=elsewhere, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    verdict = json.loads(out.stdout)
    assert verdict["state"] == "calm"
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import streamchill.analyzer as a; print(a.__file__)"],
        cwd=elsewhere, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert str(site) in where.stdout, "the installed copy must be used, not the checkout"
