"""The `miniapp` console command: one Flask CLI group for operators and scripts."""

from __future__ import annotations

import json
import os

import click
from flask.cli import FlaskGroup

from miniapp_api.audit.commands import audit
from miniapp_api.edge.commands import edge
from miniapp_api.legal.commands import legal
from miniapp_api.notify.commands import worker
from miniapp_api.ops.commands import ops
from miniapp_api.results.commands import readmodel
from miniapp_api.retention.commands import retention, with_purge_schedule
from miniapp_api.review.commands import review
from miniapp_api.sampling.commands import labs, rounds, sites, staff
from miniapp_api.stack.commands import stack
from miniapp_api.wiring import wiring


def _create_app() -> object:
    from miniapp_api import create_app

    return create_app()


@click.group(
    cls=FlaskGroup, create_app=_create_app, add_default_commands=False, add_version_option=False
)
def main() -> None:
    """Operate the screening mini-program backend."""


main.add_command(sites)
main.add_command(staff)
main.add_command(labs)
main.add_command(rounds)
# The push worker also runs the retention purge on its schedule (retention sits above notify).
main.add_command(with_purge_schedule(worker))
main.add_command(readmodel)
main.add_command(ops)
main.add_command(edge)
main.add_command(stack)
main.add_command(audit)
main.add_command(retention)
main.add_command(review)
main.add_command(legal)


@main.group()
def db() -> None:
    """Database schema migrations."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION on the configured database."""
    from miniapp_api.migrate import upgrade

    url = wiring().settings.database_url
    upgrade(url, revision)
    click.echo(f"database at {revision}")


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Revert migrations down to REVISION (e.g. base)."""
    from miniapp_api.migrate import downgrade

    downgrade(wiring().settings.database_url, revision)
    click.echo(f"database at {revision}")


@main.command("openapi")
def openapi() -> None:
    """Print the API description (OpenAPI 3, JSON): what /openapi.json serves to operators."""
    from flask import current_app

    from miniapp_api.ops.views import api_document

    click.echo(json.dumps(api_document(current_app), ensure_ascii=False, indent=2))


@main.command("dev", with_appcontext=False)
@click.option("--port", type=int, default=lambda: int(os.environ.get("MINIAPP_PORT", "8000")))
@click.option(
    "--emulator-port",
    type=int,
    default=lambda: int(os.environ.get("MINIAPP_EMULATOR_PORT", "8765")),
)
def dev(port: int, emulator_port: int) -> None:
    """Run the embedded default: API, platform emulator and simulator page in one process."""
    from miniapp_api.devserver import run

    run(port, emulator_port)


@main.command("emulator", with_appcontext=False)
@click.option("--port", type=int, default=8765, show_default=True)
def emulator(port: int) -> None:
    """Run only the platform emulator, with the development apps registered."""
    from flask import Config

    from channels.emulator import start_in_thread
    from miniapp_api.devserver import dev_secrets, emulator_config
    from miniapp_api.settings import load_config

    config = Config(".")
    load_config(config)
    running = start_in_thread(emulator_config(dev_secrets(), dict(config)), port=port)
    click.echo(f"platform emulator on {running.base_url}; Ctrl-C stops it")
    running.thread.join()
