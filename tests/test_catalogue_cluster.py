"""`streamchill catalogue --address` on a real two-node Ray cluster on this machine: a head
(``ray start --head``) and a second node (``ray start --address``), one CPU each, so the two
workers must land on different nodes.

Both nodes run with ``--block`` in their own process group, which this test kills at the end:
cleanup never reaches a Ray that someone else started on the machine (``ray stop`` would).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="needs the cluster extra")

from tests.conftest import example_path
from tests.support.mosquitto import free_port

pytestmark = [pytest.mark.slow, pytest.mark.integration]

RAY = str(Path(sys.executable).with_name("ray"))
JOIN_TIMEOUT_S = 120.0
# A cluster secured as Ray 2.60 does by default: every node and the driver hold the same token.
CLUSTER_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AUTH_MODE": "token",
    "RAY_AUTH_TOKEN": secrets.token_hex(32),
}


def start_node(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, **CLUSTER_ENV}
    with log.open("ab") as out:
        return subprocess.Popen(
            [RAY, "start", "--block", "--num-cpus", "1", "--disable-usage-stats", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its own process group: raylet, GCS and workers with it
        )


def stop_node(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the node's process group (Ray shuts the node down), then SIGKILL to whatever
    of the group is left: nothing outlives the test, nothing outside the group is touched."""
    for sig, grace_s in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(grace_s)
    proc.wait(10)


def nodes_alive(address: str) -> int:
    """How many nodes the cluster at ``address`` counts (0 while it is not up)."""
    probe = (
        "import ray, sys; ray.init(address=sys.argv[1], logging_level='ERROR');"
        "print(sum(n['Alive'] for n in ray.nodes()))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, address],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **CLUSTER_ENV},
    )
    return int(done.stdout.strip() or 0) if done.returncode == 0 else 0


@pytest.fixture
def two_nodes() -> Iterator[str]:
    # A short root: Ray's socket paths must fit in 107 bytes.
    root = Path(tempfile.mkdtemp(prefix="rc-"))
    port = free_port()
    address = f"127.0.0.1:{port}"
    common = ["--node-ip-address", "127.0.0.1"]
    head = start_node(
        ["--head", "--port", str(port), "--include-dashboard", "false",
         "--temp-dir", str(root), *common],
        root / "head.log",
    )  # fmt: skip
    procs = [head]
    try:
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        while nodes_alive(address) < 1:
            assert head.poll() is None, (root / "head.log").read_text()
            assert time.monotonic() < deadline, "the head never came up"
        procs.append(start_node(["--address", address, *common], root / "node.log"))
        while nodes_alive(address) < 2:
            assert procs[1].poll() is None, (root / "node.log").read_text()
            assert time.monotonic() < deadline, "the second node never joined"
        yield address
    finally:
        for proc in reversed(procs):
            stop_node(proc)
        shutil.rmtree(root, ignore_errors=True)


def test_two_nodes_share_the_catalogue(two_nodes: str, tmp_path: Path) -> None:
    library = tmp_path / "library"
    library.mkdir()
    for kind in ("calm", "aggressive", "speech"):
        shutil.copy(example_path(kind), library)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "streamchill.streamer", "catalogue", str(library),
               "--out", str(out), "--address", two_nodes, "--workers", "2"]  # fmt: skip
    env = {**os.environ, **CLUSTER_ENV}
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["ok"], summary["failed"]) == (3, 0)
    nodes = {worker.split("@")[0] for worker in summary["workers"]}
    assert len(nodes) == 2, summary["workers"]  # one CPU a node: one worker on each
