"""`miniapp stack up|down|status`: the production shape on one machine (`make stack`)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import click
from flask.cli import AppGroup

from miniapp_api.stack.lifecycle import down, running, up
from miniapp_api.stack.plan import STACK_DIR, Ports, make_plan
from miniapp_api.stack.processes import StackError

_DIRECTORY = click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=STACK_DIR,
    envvar="MINIAPP_STACK_DIR",
    show_default=True,
    help="Logs, pid files and HAProxy's configuration.",
)
_GRACE = click.option(
    "--grace",
    type=float,
    default=10.0,
    show_default=True,
    help="Seconds between SIGTERM and SIGKILL.",
)


@click.group("stack", cls=AppGroup)
def stack() -> None:
    """HAProxy in front of two app nodes, the push worker and the platform emulator."""


@stack.command("up", with_appcontext=False)
@_DIRECTORY
@click.option("--edge-port", type=int, default=8080, envvar="MINIAPP_STACK_EDGE_PORT")
@click.option("--stats-port", type=int, default=8404, envvar="MINIAPP_STACK_STATS_PORT")
@click.option(
    "--node-port",
    "node_ports",
    type=int,
    multiple=True,
    default=(8001, 8002),
    envvar="MINIAPP_STACK_NODE_PORTS",
    show_default=True,
    help="One app node per port (repeat; the variable takes them space-separated).",
)
@click.option("--emulator-port", type=int, default=8765, envvar="MINIAPP_STACK_EMULATOR_PORT")
@click.option(
    "--internal-port",
    "internal_ports",
    type=int,
    multiple=True,
    default=(9101, 9102),
    envvar="MINIAPP_STACK_INTERNAL_PORTS",
    show_default=True,
    help="Each node's internal listener (/metrics, /readyz), in --node-port's order.",
)
@click.option("--timeout", type=float, default=60.0, show_default=True)
@_GRACE
def stack_up(
    directory: Path,
    edge_port: int,
    stats_port: int,
    node_ports: tuple[int, ...],
    emulator_port: int,
    internal_ports: tuple[int, ...],
    timeout: float,
    grace: float,
) -> None:
    """Start everything in the background; return once each part answers."""
    if shutil.which("haproxy") is None:
        raise click.ClickException(
            "haproxy is not installed: apt-get install haproxy (.ci/machine does)"
        )
    if len(internal_ports) != len(node_ports):
        raise click.BadParameter("one per --node-port", param_hint="--internal-port")
    ports = Ports(edge_port, stats_port, tuple(node_ports), emulator_port, tuple(internal_ports))
    plan = make_plan(directory.resolve(), ports, dict(os.environ))
    try:
        up(plan, timeout=timeout, grace=grace)
    except StackError as failed:
        raise click.ClickException(str(failed)) from failed
    _print_urls(plan.directory)
    click.echo(
        f"  logs and pids in {plan.directory}/; the ops token of `make run` is in "
        "instance/dev-secrets.json; `make stack-stop` ends it all"
    )


@stack.command("down", with_appcontext=False)
@_DIRECTORY
@_GRACE
def stack_down(directory: Path, grace: float) -> None:
    """End every process of the stack (SIGTERM, then SIGKILL after the grace period)."""
    killed = down(directory.resolve(), grace=grace)
    suffix = f" ({', '.join(killed)} needed SIGKILL)" if killed else ""
    click.echo(f"stack stopped{suffix}")


@stack.command("status", with_appcontext=False)
@_DIRECTORY
def stack_status(directory: Path) -> None:
    """Which processes of the stack run, and where it answers; exit 1 if none runs."""
    alive = running(directory.resolve())
    for name, pid in sorted(alive.items()):
        click.echo(f"  {name:<10} pid {pid}")
    if not alive:
        click.echo("stack not running")
        raise SystemExit(1)
    _print_urls(directory.resolve())


def _print_urls(directory: Path) -> None:
    found = directory / "stack.json"
    if found.exists():
        for name, url in json.loads(found.read_text()).items():
            click.echo(f"  {name:<10} {url}")
