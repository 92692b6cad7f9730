"""``miniapp keys generate|status|rotate``: the steps of README "Rotating keys"."""

from __future__ import annotations

import base64
import secrets

import click
from flask.cli import AppGroup

from miniapp_api.rekeying.rotate import Rotation, TableReport
from miniapp_api.settings import KEY_BYTES
from miniapp_api.wiring import wiring

keys = AppGroup("keys", help="The data and index keys: new ones, and rotating stored data to them.")


@keys.command("generate")
def generate() -> None:
    """Print a new random key (base64 of 32 bytes), for DATA_KEY or INDEX_KEY."""
    click.echo(base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode())


def _configured() -> None:
    crypto = wiring().crypto
    for name, ring in (("DATA_KEY", crypto.data_keys), ("INDEX_KEY", crypto.index_keys)):
        others = ", ".join(str(k) for k in ring.others()) or "none"
        click.echo(f"{name}: writing with key {ring.current}; also reading keys: {others}")


@keys.command("status")
def status() -> None:
    """Which keys are configured, and how many stored values are not yet under the current
    ones (reads every row; writes nothing). Exits 1 while anything is left."""
    _configured()
    reports = Rotation(wiring().db.engine, wiring().crypto, None).run(dry_run=True)
    _print(reports)
    if not all(r.done for r in reports):
        raise SystemExit(1)
    click.echo("Everything is under the current keys: the other keys can be removed.")


@keys.command("rotate")
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=500, show_default=True)
@click.option(
    "--pause", type=click.FloatRange(0, 10), default=0.0, help="seconds to rest between batches"
)
@click.option("--restart", is_flag=True, help="ignore the checkpoint: start from the first row")
def rotate(batch_size: int, pause: float, restart: bool) -> None:
    """Re-encrypt and re-index every stored value under the current keys, in batches.

    Safe while the service runs, to interrupt and to run again (it resumes). Exits 1 if rows
    were left behind (duplicates to merge, sandbox residents without a reviewer).
    """
    wire = wiring()
    _configured()
    rotation = Rotation(
        wire.db.engine, wire.crypto, wire.redis, batch_size=batch_size, pause_seconds=pause
    )
    reports = rotation.run(restart=restart)
    _print(reports)
    if any(r.duplicates or r.unindexed for r in reports):
        raise SystemExit(1)
    click.echo("Done. Check with `miniapp keys status` before removing the old keys.")


def _print(reports: list[TableReport]) -> None:
    for report in reports:
        click.echo(report.line())
        pairs = report.duplicates
        for mine, theirs in zip(pairs[::2], pairs[1::2], strict=True):
            click.echo(f"  {mine} is the same person as {theirs}: merge them, then run again")
        for row in report.unindexed:
            click.echo(f"  {row}: a sandbox resident without its reviewer; left on its index")
