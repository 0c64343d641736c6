"""The Ray side of a catalogue run: one worker actor per core, each with its own loaded model.

The only module of the project that imports Ray. Every actor loads the musicnn interpreter and
the heads once, then judges files one after another (decoding included), so the work a file
costs is the same as in ``streamchill analyze``. Only plain rows travel back to the driver.

Failures: a worker process that dies (killed, out of memory, a crash in a decoder) is restarted
by Ray and the tasks it held are run again (``max_restarts``, ``max_task_retries``); only the
driver writes rows, one per file it handed out, so a retried file is never written twice. A
file that kills its worker every time becomes an error row once the retries are spent.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import ray
import ray.exceptions

from streamchill.streamer.catalogue.files import CatalogueFile
from streamchill.streamer.catalogue.table import error_row, ok_row
from streamchill.streamer.errors import StreamerError

TASK_RETRIES = 2
"""Runs of one file after its worker died (3 deaths in all make it an error row)."""
IN_FLIGHT_PER_WORKER = 2
"""Files queued on each actor: the next one is there when the current one ends."""
READY_TIMEOUT_S = 180.0
"""How long the workers may take to start and load the model (a cluster may be scaling up)."""

RowSink = Callable[[CatalogueFile, dict[str, Any]], None]


class CatalogueError(StreamerError):
    """The run itself cannot go on (Ray cannot start, workers never came up)."""


class Judge:
    """One worker actor: the models loaded once, then files judged one by one."""

    def __init__(self) -> None:
        from streamchill.analyzer.models_bundle import shared_models

        self.models = shared_models()  # one interpreter per actor process, loaded here, once
        node = ray.get_runtime_context().get_node_id()[:8]
        self.name = f"{node}@{ray.util.get_node_ip_address()}:{os.getpid()}"

    def ready(self) -> dict[str, Any]:
        """Answered once the model is loaded: who this worker is (node id, address, pid)."""
        return {"pid": os.getpid(), "worker": self.name}

    def judge(self, file: CatalogueFile) -> dict[str, Any]:
        """The file's row: the verdict of ``streamchill analyze``, or the reason it has none."""
        from streamchill.analyzer.errors import AnalyzerError
        from streamchill.streamer.batch import analyze_source

        started, cpu_started = time.perf_counter(), time.process_time()
        try:
            result = analyze_source(file.path, models=self.models)
            row = ok_row(file, result.verdict, result.events)
        except (StreamerError, AnalyzerError) as exc:
            row = error_row(file, str(exc))
        except Exception as exc:  # a bug or a library's surprise: one row, not a lost run
            row = error_row(file, f"{file.path}: unexpected {type(exc).__name__}: {exc}")
        return {
            **row,
            "judge_s": time.perf_counter() - started,
            "cpu_s": time.process_time() - cpu_started,
            "worker": self.name,
        }


@contextmanager
def ray_session(address: str | None, workers: int | None) -> Iterator[int]:
    """Join the cluster at ``address``, or start a small local Ray (``workers`` CPUs, no
    dashboard); yield how many workers to run. A Ray already started by the caller is used
    as it is and left running."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # nothing leaves the machine
    started_here = not ray.is_initialized()
    if started_here:
        quiet: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
        try:
            if address:
                ray.init(address=address, **quiet)
            else:
                cpus = workers or os.cpu_count() or 1
                ray.init(num_cpus=cpus, include_dashboard=False, **quiet)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = address or "a local Ray"
            raise CatalogueError(f"cannot start or join {where}: {exc}") from exc
    try:
        yield workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
    finally:
        if started_here:
            ray.shutdown()


def judge_all(
    files: Sequence[CatalogueFile],
    on_row: RowSink,
    *,
    workers: int,
    on_ready: Callable[[list[dict[str, Any]]], None] | None = None,
) -> None:
    """Judge ``files`` on ``workers`` actors, handing each file's row to ``on_row`` exactly
    once, in the order they finish; ``on_ready`` gets the workers' ``ready`` answers once all
    have loaded the model."""
    # Any: Ray's stubs do not see the `.remote` that ray.remote adds to the methods.
    actor: Any = ray.remote(num_cpus=1, max_restarts=-1, max_task_retries=TASK_RETRIES)(Judge)
    actors: list[Any] = [actor.remote() for _ in range(max(1, min(workers, len(files))))]
    try:
        infos = ray.get([a.ready.remote() for a in actors], timeout=READY_TIMEOUT_S)
    except ray.exceptions.GetTimeoutError as exc:
        raise CatalogueError(
            f"{len(actors)} workers did not start within {READY_TIMEOUT_S:.0f} s:"
            " does the cluster have that many free CPUs? (--workers sets how many)"
        ) from exc
    except ray.exceptions.RayError as exc:
        raise CatalogueError(f"the workers could not load the model: {exc}") from exc
    if on_ready is not None:
        on_ready(infos)
    pending = deque(files)
    inflight: dict[Any, tuple[int, CatalogueFile]] = {}

    def submit(worker: int) -> None:
        if pending:
            file = pending.popleft()
            inflight[actors[worker].judge.remote(file)] = (worker, file)

    for worker in range(len(actors)):
        for _ in range(IN_FLIGHT_PER_WORKER):
            submit(worker)
    try:
        while inflight:
            done, _ = ray.wait(list(inflight), num_returns=1)
            for ref in done:
                worker, file = inflight.pop(ref)
                on_row(file, _result(ref, file))
                submit(worker)
    finally:
        for a in actors:
            ray.kill(a)


def _result(ref: Any, file: CatalogueFile) -> dict[str, Any]:
    """The row a finished task left, or an error row saying why the worker gave none."""
    try:
        row: dict[str, Any] = ray.get(ref)
        return row
    except ray.exceptions.RayActorError as exc:
        reason = f"the worker died {TASK_RETRIES + 1} times while judging it"
        return error_row(file, f"{file.path}: {reason} ({type(exc).__name__})")
    except ray.exceptions.RayError as exc:
        return error_row(file, f"{file.path}: {type(exc).__name__}: {exc}")
