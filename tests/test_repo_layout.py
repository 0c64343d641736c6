"""The house rules a fresh clone relies on: no machine's paths, one namespace, layers that hold.

These read the checkout's files, so a rule broken anywhere fails here with the file and line.
"""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Absolute paths into a home, a work tree or a venv: they exist on one machine only.
MACHINE_PATH = re.compile(r"(?<![\w.])/(?:work|home|root|Users)/[\w.-]+")
CHECKED_FOR_PATHS = ("tests", "scripts", "benchmarks", "streamer", "analyzer", ".ci")
TEXT_SUFFIXES = {".py", ".sh", ".md", ".toml", ".json", ".js", ".mjs", ""}
PACKAGES = ("analyzer", "streamer")
MAX_LINES = 420


def _files(*folders: str, suffixes: set[str] = TEXT_SUFFIXES) -> list[Path]:
    found = []
    for folder in folders:
        for path in (ROOT / folder).rglob("*"):
            path = path.relative_to(ROOT)
            hidden = any(part.startswith(".") or part == "__pycache__" for part in path.parts)
            if path.is_file() and path.suffix in suffixes and not hidden:
                found.append(ROOT / path)
    return sorted(found)


def _imports(path: Path) -> list[tuple[int, str]]:
    """Absolute module names imported by a Python file, with their line numbers."""
    source = path.read_text()
    try:
        tree = ast.parse(source, filename=str(path))
    except SystemError as exc:
        # CPython 3.11 (gh-106905): the AST builder's recursion counter is shared, so a
        # thread left over from an earlier test that builds an AST at the same moment can
        # make a valid file raise "recursion depth mismatch". Parsing again is honest.
        if "recursion depth mismatch" not in str(exc):
            raise
        tree = ast.parse(source, filename=str(path))
    names: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append((node.lineno, node.module))
    return names


def test_no_file_names_a_path_that_only_one_machine_has() -> None:
    offenders = []
    for path in _files(*CHECKED_FOR_PATHS):
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if MACHINE_PATH.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "machine-specific paths:\n" + "\n".join(offenders)


def test_no_tracked_link_leaves_the_checkout() -> None:
    # A link into one machine's data (say data -> a folder beside the repo) clones as a
    # dangling link elsewhere, and as a hidden dependency here; the text rule cannot see it.
    listed = subprocess.run(["git", "ls-files", "-s"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout  # fmt: skip
    links = [line.split("\t", 1)[1] for line in listed.splitlines() if line.startswith("120000 ")]
    outside = [
        f"{link} -> {(ROOT / link).readlink()}"
        for link in links
        if not (ROOT / link).resolve().is_relative_to(ROOT)
    ]
    assert not outside, "tracked links out of the checkout:\n" + "\n".join(outside)


def test_the_path_rule_itself_catches_such_paths() -> None:
    # Built from parts, so that this file itself names no such path.
    work, home = "/" + "work", "/" + "home"
    assert MACHINE_PATH.search(f'STREAMCHILL_BIN = "{work}/venv/bin/streamchill"')
    assert MACHINE_PATH.search(f"cp x {home}/alice/music")
    assert not MACHINE_PATH.search("ws://127.0.0.1:8765/v1/events and ./scripts/check")


@pytest.mark.parametrize("folder", [*PACKAGES, "tests", "benchmarks", "models"])
def test_code_imports_the_project_only_through_the_streamchill_namespace(folder: str) -> None:
    stale = []
    for path in _files(folder, suffixes={".py"}):
        for line, name in _imports(path):
            if name.split(".")[0] in ("analyzer", "streamer", "models"):
                stale.append(f"{path.relative_to(ROOT)}:{line}: import {name}")
    assert not stale, "imports outside streamchill.*:\n" + "\n".join(stale)


def test_the_analyzer_imports_nothing_from_the_streamer_or_the_model_scripts() -> None:
    upward = []
    for path in _files("analyzer", suffixes={".py"}):
        for line, name in _imports(path):
            if name.startswith(("streamchill.streamer", "streamchill.models")):
                upward.append(f"{path.relative_to(ROOT)}:{line}: import {name}")
    assert not upward, "the analyzer must not depend on I/O or model scripts:\n" + "\n".join(upward)


@pytest.mark.parametrize(
    ("room", "may_not_import"),
    [
        # Sources produce audio; they know nothing of the server or the MQTT sink.
        ("streamer/sources", ("streamchill.streamer.mqtt", "streamchill.streamer.commands")),
        # The MQTT sink consumes events; it knows nothing of where audio comes from.
        ("streamer/mqtt", ("streamchill.streamer.sources", "streamchill.streamer.server")),
        # Nothing below the commands imports a command.
        ("streamer/server", ("streamchill.streamer.commands", "streamchill.streamer.mqtt")),
    ],
)
def test_rooms_of_the_streamer_follow_the_data_flow(room: str, may_not_import: tuple[str]) -> None:
    wrong = []
    for path in _files(room, suffixes={".py"}):
        for line, name in _imports(path):
            if name.startswith(may_not_import):
                wrong.append(f"{path.relative_to(ROOT)}:{line}: import {name}")
    assert not wrong, "\n".join(wrong)


def test_ray_and_pyarrow_stay_in_the_catalogue_room() -> None:
    """They come with the optional ``cluster`` extra: the core install never imports them."""
    outside = []
    for path in _files(*PACKAGES, suffixes={".py"}):
        room = path.relative_to(ROOT).parts[:2]
        for line, name in _imports(path):
            if name.split(".")[0] in ("ray", "pyarrow") and room != ("streamer", "catalogue"):
                outside.append(f"{path.relative_to(ROOT)}:{line}: import {name}")
            if name.split(".")[0] == "ray" and path.name != "workers.py":
                outside.append(f"{path.relative_to(ROOT)}:{line}: import {name} (workers.py only)")
    assert not outside, "\n".join(outside)


def test_no_source_or_test_file_grows_past_the_size_a_reader_can_hold() -> None:
    long_files = [
        f"{path.relative_to(ROOT)}: {n} lines"
        for path in _files(*PACKAGES, "tests", "benchmarks", suffixes={".py"})
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    ]
    assert not long_files, "split these:\n" + "\n".join(long_files)
