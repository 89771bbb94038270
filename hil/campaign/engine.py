"""Playing a campaign on Dask: a LocalCluster sized to the machine, or an existing scheduler.

Each run is one task (:func:`hil.campaign.task.run_one`): pure, its inputs in the spec, its
row back to this process, which writes it as a part the moment it arrives. Dask reruns the
tasks of a worker that dies; a run that fails is a row with its error; Ctrl-C (or a kill)
leaves every finished part, and the same command resumes with the rest.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distributed import Client, Future, LocalCluster, as_completed

from hil.errors import ConfigError, Problem

from .model import Campaign, ClusterSpec
from .plan import RunSpec, checked_plan
from .store import ResultSchema, done_indices, open_folder, write_part, write_results
from .task import DEFAULT_METRICS, result_row, run_one

__all__ = ["CampaignOutcome", "Progress", "cluster_kwargs", "connect", "metric_names", "run_campaign"]

log = logging.getLogger(__name__)

#: how often results.parquet is rebuilt from the parts while a campaign runs, s
GATHER_EVERY_S = 30.0

#: how a campaign reports: (finished, total, the row just finished or None, the dashboard link)
Progress = Callable[[int, int, dict[str, Any] | None, str | None], None]


@dataclass
class CampaignOutcome:
    out_dir: Path
    total: int
    ran: int  # runs played by this call
    resumed: int  # runs found finished in the folder
    failed: int
    interrupted: bool
    dashboard: str | None
    wall_s: float
    workers: int


def metric_names(campaign: Campaign) -> list[str]:
    return list(campaign.spec.metrics or DEFAULT_METRICS[campaign.spec.base.kind])


def cluster_kwargs(spec: ClusterSpec, workers: int | None) -> dict[str, Any]:
    n = workers or spec.workers or max(1, os.cpu_count() or 1)
    return {
        "n_workers": n,
        "threads_per_worker": spec.threads_per_worker,
        "processes": True,
        "host": "127.0.0.1",  # scheduler, workers and nannies on loopback only
        # the scheduler's HTTP server and Dask dashboard on loopback, on a free port (Dask's
        # default is :8787 on every interface)
        "dashboard_address": "127.0.0.1:0",
        "memory_limit": spec.memory_limit,
        "silence_logs": logging.ERROR,
    }


@contextlib.contextmanager
def connect(
    spec: ClusterSpec, *, scheduler: str | None = None, workers: int | None = None
) -> Iterator[Client]:
    """A client on ``scheduler`` (or the file's), else on a LocalCluster closed on the way out."""
    address = scheduler or spec.scheduler
    if address:
        try:
            client = Client(address, timeout="20s")
        except OSError as exc:
            raise ConfigError(
                [Problem("--scheduler", None, "", f"no Dask scheduler answers at {address}: {exc}")]
            ) from None
        try:
            yield client
        finally:
            client.close()
        return
    with LocalCluster(**cluster_kwargs(spec, workers)) as cluster, Client(cluster) as client:
        yield client


def run_campaign(
    campaign: Campaign,
    out_dir: Path,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    fresh: bool = False,
    retry_failed: bool = False,
    progress: Progress | None = None,
    limit: int | None = None,
) -> CampaignOutcome:
    """Plan, check and play ``campaign`` into ``out_dir`` (resuming what it holds); ``limit``
    stops after that many runs of this call (a partial campaign, resumed later)."""
    runs = checked_plan(campaign)
    metrics = metric_names(campaign)
    schema = ResultSchema(runs, metrics)
    open_folder(out_dir, campaign.name, runs, fresh=fresh)
    done = done_indices(out_dir, retry_failed=retry_failed)
    todo = [r for r in runs if r.index not in done]
    if limit is not None:
        todo = todo[:limit]
    say = progress or (lambda _d, _t, _r, _l: None)
    total = len(runs)
    count = [len(done), 0]  # finished (in the folder), failed (this call)
    interrupted = False
    dashboard = None
    wall0 = time.perf_counter()
    n_workers = 0

    gathered = [time.perf_counter()]

    def on_row(row: dict[str, Any]) -> None:
        count[0] += 1
        count[1] += row["status"] != "ok"
        if time.perf_counter() - gathered[0] > GATHER_EVERY_S:  # results.parquet readable mid-run
            write_results(out_dir, schema)
            gathered[0] = time.perf_counter()
        say(count[0], total, row, dashboard)

    try:
        if todo:
            with connect(campaign.spec.cluster, scheduler=scheduler, workers=workers) as client:
                n_workers = len(client.scheduler_info().get("workers", {}))
                dashboard = _dashboard(client)
                say(count[0], total, None, dashboard)
                _play(client, todo, out_dir, schema, on_row)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        write_results(out_dir, schema)
    return CampaignOutcome(
        out_dir=out_dir,
        total=total,
        ran=count[0] - len(done),
        resumed=len(done),
        failed=count[1],
        interrupted=interrupted,
        dashboard=dashboard,
        wall_s=time.perf_counter() - wall0,
        workers=n_workers,
    )


def _dashboard(client: Client) -> str | None:
    """The Dask dashboard's address, when one is served (a LocalCluster serves it with bokeh
    installed; an existing cluster's scheduler says whether it has one)."""
    if client.cluster is not None and importlib.util.find_spec("bokeh") is None:
        return None
    services = client.scheduler_info().get("services", {})
    return client.dashboard_link if "dashboard" in services else None


def _play(
    client: Client,
    todo: Sequence[RunSpec],
    out_dir: Path,
    schema: ResultSchema,
    on_row: Callable[[dict[str, Any]], None],
) -> None:
    """Submit every run; write each row the moment it comes back, then tell ``on_row``."""
    by_key: dict[str, RunSpec] = {}
    futures: list[Future] = []
    batch = f"{time.time_ns():x}"  # a rerun in the same client gets new keys
    for spec in todo:
        key = f"hil-run-{spec.run_id}-{batch}"
        futures.append(client.submit(run_one, spec, str(out_dir), key=key, pure=False))
        by_key[key] = spec
    try:
        for fut in as_completed(futures):
            spec = by_key[str(fut.key)]
            if fut.status == "finished":
                row = fut.result()
            else:  # the task itself died (a worker lost more often than Dask allows, ...)
                exc = fut.exception()
                row = result_row(
                    spec, "failed", f"{type(exc).__name__}: {exc}", {}, {}, started=None, wall_s=None
                )
            write_part(out_dir, schema, row)
            on_row(row)
            fut.release()
    finally:
        client.cancel([f for f in futures if not f.done()])
