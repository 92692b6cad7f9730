"""``miniapp retention purge``, and the push worker with the purge on its schedule.

The worker command belongs to ``notify``, which sits below ``retention`` in the layers and so
cannot start the purge itself. The composition happens at the top, in ``miniapp_api/cli.py``:
``main.add_command(with_purge_schedule(worker))`` registers the same ``worker`` command, whose
long-running form also runs :class:`~miniapp_api.retention.schedule.PurgeSchedule` in a thread.
"""

from __future__ import annotations

import copy
import functools
import threading
from typing import Any

import click
from flask.cli import AppGroup, with_appcontext

from miniapp_api.db import utcnow
from miniapp_api.retention.purge import Kind, Purge, expired_counts
from miniapp_api.retention.schedule import PurgeLocked, PurgeSchedule, purge_locked
from miniapp_api.wiring import Wiring, wiring

retention = AppGroup("retention", help="Delete what outlived its retention period ([RETENTION]).")


def _job(wire: Wiring) -> Purge:
    return Purge(wire.db, wire.readmodel, wire.settings.retention, utcnow())


@retention.command("purge")
@click.option("--dry-run", is_flag=True, help="Count what would go, per kind; delete nothing.")
@click.option(
    "--only",
    "only",
    type=click.Choice([k.value for k in Kind]),
    multiple=True,
    help="Purge only this kind (repeatable). Default: every kind, in order.",
)
def purge_command(dry_run: bool, only: tuple[str, ...]) -> None:
    """Delete, in short batches, every record past its period; print what went, per kind.

    Safe to interrupt and run again. Exits 1 without deleting if another purge (the worker's
    schedule) is running.
    """
    wire = wiring()
    kinds = tuple(Kind(k) for k in only) or tuple(Kind)
    if dry_run:
        for kind, counts in expired_counts(_job(wire), kinds).items():
            tables = " ".join(f"{t}={n}" for t, n in counts.items())
            click.echo(f"{kind}: would delete {tables}")
        return
    try:
        report = purge_locked(wire.redis, lambda: _job(wire), kinds=kinds)
    except PurgeLocked as exc:
        click.echo(str(exc), err=True)
        raise SystemExit(1) from None
    for line in report.lines():
        click.echo(line)
    click.echo(
        f"{report.rows} rows in {report.batches} batches, {report.seconds:.1f} s; "
        f"longest batch {1000 * report.longest_batch_seconds:.0f} ms"
    )


def with_purge_schedule(worker: click.Command) -> click.Command:
    """``worker`` whose long-running form (no ``--once``) also runs the purge schedule in a
    thread, stopped when the worker returns (after SIGTERM / Ctrl-C, between two batches)."""
    run_worker = worker.callback
    assert run_worker is not None

    @with_appcontext
    @functools.wraps(run_worker)
    def run(**options: Any) -> Any:
        if options.get("once"):
            return run_worker(**options)
        wire = wiring()
        stop = threading.Event()
        schedule = PurgeSchedule(
            wire.redis, lambda: _job(wire), wire.settings.retention.schedule_minutes
        )
        thread = schedule.start(stop)
        try:
            return run_worker(**options)
        finally:
            stop.set()
            if thread is not None:
                thread.join(timeout=30)

    composed = copy.copy(worker)
    composed.callback = run
    composed.help = (
        f"{worker.help or ''}\n\nAlso runs the retention purge every RETENTION.SCHEDULE_MINUTES "
        "(one node at a time; 0: never)."
    )
    return composed
