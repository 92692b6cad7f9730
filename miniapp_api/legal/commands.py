"""``miniapp legal``: the legal documents' versions and hashes."""

from __future__ import annotations

import click

from miniapp_api.legal import published


@click.group()
def legal() -> None:
    """The legal documents (/legal/...): versions and content hashes."""


@legal.command("hashes")
@click.option(
    "--record",
    is_flag=True,
    help="Also add the current versions to miniapp_api/legal/published.json.",
)
def hashes(record: bool) -> None:
    """Print each document's version, SHA-256 and state: published, new (not recorded yet)
    or changed (its text changed under a published version: bump the version)."""
    try:
        found = published.record() if record else published.statuses()
    except published.ChangedWithoutNewVersion as error:
        raise click.ClickException(str(error)) from None
    for status in found:
        click.echo(f"{status.name:16} {status.version:12} {status.sha256} {status.state}")
