"""``miniapp audit ...``: check the audit trail's chain, list its events."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from miniapp_api.audit import service
from miniapp_api.db import utcnow
from miniapp_api.wiring import wiring

audit = AppGroup("audit", help="The audit trail: staff reads, operator changes, exports.")


@audit.command("verify")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=5000, show_default=True)
def verify(batch_size: int) -> None:
    """Check every row's hash and link; exit 1 naming the first broken row."""
    with wiring().db.session() as session:
        report = service.verify(session, batch_size=batch_size)
    if report.broken is not None:
        click.echo(f"audit chain broken at row {report.broken.id}: {report.broken.reason}")
        raise SystemExit(1)
    # Keep the digest outside the database: a tail removed later shows against it.
    click.echo(f"audit chains intact: {report.count} events, heads digest {report.head}")


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
