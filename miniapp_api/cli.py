"""The `miniapp` console command: one Flask CLI group for operators and scripts."""

from __future__ import annotations

import json
import os
from typing import IO, Any

import click
from flask import Flask
from flask.cli import AppGroup, ScriptInfo

from miniapp_api.audit.commands import audit
from miniapp_api.edge.commands import edge
from miniapp_api.legal.commands import legal
from miniapp_api.notify.commands import worker
from miniapp_api.ops.commands import ops
from miniapp_api.rekeying.commands import keys
from miniapp_api.results.commands import readmodel
from miniapp_api.retention.commands import retention, with_purge_schedule
from miniapp_api.review.commands import review
from miniapp_api.sampling.commands import labs, rounds, sites, staff
from miniapp_api.settings import ENV_FILE_VARIABLE, ConfigurationError, load_env_file
from miniapp_api.stack.commands import stack
from miniapp_api.stack.emulator import emulator
from miniapp_api.wiring import wiring

# sysexits.h's EX_CONFIG: a systemd unit lists it in RestartPreventExitStatus= (no restart
# loop on a setting only an operator can fix).
EXIT_CONFIGURATION = 78


class UnusableConfiguration(click.ClickException):
    """The configuration is incomplete: the problems, one line each, and no traceback."""

    exit_code = EXIT_CONFIGURATION

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"miniapp: {self.format_message()}", err=True, file=file)


def _create_app() -> Flask:
    from miniapp_api import create_app

    try:
        return create_app()
    except ConfigurationError as error:
        raise UnusableConfiguration(str(error)) from None


class MiniappGroup(AppGroup):
    """The commands added below and nothing else.

    Flask's own ``FlaskGroup`` builds the app to list the app's commands, so ``--help`` failed
    without configuration; ours are all here, and only a command that needs the app builds it
    (``with_appcontext``).
    """

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        # Tests pass their own ScriptInfo (FlaskCliRunner): their app, already configured.
        extra.setdefault("obj", ScriptInfo(create_app=_create_app, set_debug_flag=False))
        return super().make_context(info_name, args, parent, **extra)


def _read_env_file(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    info = ctx.find_object(ScriptInfo)
    if info is None or info.create_app is not _create_app:
        return  # a caller's own app (tests): its configuration is set, the environment too
    try:
        load_env_file(value)
    except ConfigurationError as error:
        raise UnusableConfiguration(str(error)) from None


@click.group(cls=MiniappGroup)
@click.option(
    "-e",
    "--env-file",
    type=click.Path(dir_okay=False),
    envvar=ENV_FILE_VARIABLE,
    is_eager=True,
    expose_value=False,
    callback=_read_env_file,
    help=f"Read variables from this file (also ${ENV_FILE_VARIABLE}; default: ./.env if there "
    "is one). Variables already in the environment win.",
)
def main() -> None:
    """Operate the screening mini-program backend.

    Configuration: MINIAPP_* variables (.env.example lists them all), from the environment or
    an env file. Only commands that need the app read and check it.
    """


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
main.add_command(emulator)
main.add_command(audit)
main.add_command(retention)
main.add_command(review)
main.add_command(legal)
main.add_command(keys)


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
