"""``miniapp readmodel ...``: operator commands of the results read model."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from miniapp_api.results.rebuild import rebuild_read_model
from miniapp_api.wiring import wiring

readmodel = AppGroup("readmodel", help="The Redis read model of results (GET /api/v1/results).")


@readmodel.command("rebuild")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 100_000),
    default=5000,
    show_default=True,
    help="samplings read and written per round trip",
)
def rebuild(batch_size: int) -> None:
    """Rebuild the read model from the database (the system of record), in batches.

    Safe while the service runs: entries are overwritten in place, never cleared first.
    """
    wire = wiring()
    with wire.db.session() as session:
        count = rebuild_read_model(session, wire.readmodel, batch_size=batch_size)
    click.echo(f"read model rebuilt: {count} samplings")
