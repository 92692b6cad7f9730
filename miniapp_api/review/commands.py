"""``miniapp review account create`` and ``miniapp review reset`` (added to the group in cli.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click
from flask.cli import AppGroup

from miniapp_api.review import service
from miniapp_api.review.accounts import new_password
from miniapp_api.wiring import wiring


@click.group("review", cls=AppGroup)
def review() -> None:
    """Review mode: the platforms' reviewer accounts and their sandbox of synthetic people."""


@review.group("account", cls=AppGroup)
def account() -> None:
    """Reviewer accounts (REVIEW.ACCOUNTS)."""


@account.command("create", with_appcontext=False)
@click.option("--name", required=True, help="the reviewer's name (a-z, 0-9, '_', '-')")
def account_create(name: str) -> None:
    """Make a random password for reviewer NAME; prints it ONCE and the entry to configure.

    Only the argon2 hash goes into the environment (MINIAPP_REVIEW__ACCOUNTS, a JSON list of
    entries); add the entry there, set MINIAPP_REVIEW__ENABLED=true and restart. The name and
    the password go into the platform's review console (test account).
    """
    try:
        password, reviewer = new_password(name)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--name") from None
    entry = {"name": reviewer.name, "password_hash": reviewer.password_hash}
    click.echo(f"reviewer {reviewer.name}, password (shown once): {password}")
    click.echo("entry for MINIAPP_REVIEW__ACCOUNTS (a JSON list; add it to what is there):")
    click.echo(f"MINIAPP_REVIEW__ACCOUNTS='{json.dumps([entry])}'")


@review.command("reset")
@click.option("--name", "names", multiple=True, help="a reviewer to reset (default: every one)")
def reset(names: tuple[str, ...]) -> None:
    """Put every reviewer's sandbox (or NAME's) back to its first state, as a login does."""
    wire = wiring()
    with wire.db.session() as session:
        done = service.reset_sandboxes(
            session,
            list(names) or None,
            crypto=wire.crypto,
            readmodel=wire.readmodel,
            client=wire.redis,
            now=datetime.now(UTC),
        )
    click.echo(f"reset {len(done)} sandbox(es): {', '.join(done) or '-'}")
