"""``miniapp ops token create``: a new operator token (added to the group in cli.py)."""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from miniapp_api.ops.auth import new_token


@click.group("ops", cls=AppGroup)
def ops() -> None:
    """Operators of the run-time controls (GET/PUT /api/v1/ops/limits, the /ops page)."""


@ops.group("token", cls=AppGroup)
def token() -> None:
    """Operator tokens."""


@token.command("create", with_appcontext=False)
@click.option("--name", required=True, help="the operator's name (a-z, 0-9, '_', '-')")
def token_create(name: str) -> None:
    """Make a random token for operator NAME; prints it ONCE and the entry to configure.

    Only the argon2 hash goes into the environment (MINIAPP_OPS__OPERATORS, a JSON list of
    entries); add the entry to the list there and restart to let the operator in.
    """
    try:
        secret, operator = new_token(name)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--name") from None
    entry = {"name": operator.name, "token_hash": operator.token_hash}
    click.echo(f"operator token for {operator.name} (shown once, give it to them): {secret}")
    click.echo("entry for MINIAPP_OPS__OPERATORS (a JSON list; add it to what is there):")
    click.echo(f"MINIAPP_OPS__OPERATORS='{json.dumps([entry])}'")
