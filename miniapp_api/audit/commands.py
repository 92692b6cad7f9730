"""``miniapp audit ...``: check the audit trail's chain, list its events."""

from __future__ import annotations

from datetime import timedelta

import click
from flask.cli import AppGroup

from miniapp_api.audit import service
from miniapp_api.db import utcnow
from miniapp_api.wiring import wiring

audit = AppGroup("audit", help="The audit trail: staff reads, operator changes, exports.")


@audit.command("verify")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=5000, show_default=True)
def verify(batch_size: int) -> None:
    """Check every row's hash and link; exit 1 naming the first broken row.

    Chains whose oldest rows the retention purge removed start at its recorded anchor.
    """
    wire = wiring()
    retention = timedelta(days=wire.settings.retention.audit_days)
    with wire.db.session() as session:
        report = service.verify(session, batch_size=batch_size, retention=retention)
    for chain in report.early:
        click.echo(f"warning: the purge anchor of {chain} let rows younger than audit_days go")
    if report.broken is not None:
        click.echo(f"audit chain broken at row {report.broken.id}: {report.broken.reason}")
        raise SystemExit(1)
    # Keep the digest outside the database: a tail removed later shows against it.
    anchored = f" ({report.anchored} chains start at a purge anchor)" if report.anchored else ""
    click.echo(f"audit chains intact: {report.count} events{anchored}, heads digest {report.head}")


@audit.command("show")
@click.option("--since", required=True, help="e.g. 1h, 30m, 2d, or an ISO time (local if no zone)")
@click.option("--limit", type=click.IntRange(1, 100_000), default=1000, show_default=True)
def show(since: str, limit: int) -> None:
    """One line per event from SINCE on, oldest first."""
    try:
        start = service.parse_since(since, now=utcnow())
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    with wiring().db.session() as session:
        events = service.events_since(session, start, limit=limit)
    for event in events:
        click.echo(service.describe(event))
    if len(events) == limit:
        click.echo(f"(first {limit} shown; pass a later --since or a larger --limit)", err=True)
