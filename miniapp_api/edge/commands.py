"""``miniapp edge render`` and ``miniapp edge map`` (added to the group in cli.py)."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from miniapp_api.edge.config import gunicorn_slots, traffic_map, write_config


@click.group("edge", cls=AppGroup)
def edge() -> None:
    """The HAProxy front door: its configuration, from the routes and settings."""


@edge.command("render")
@click.option("--listen", required=True, help="address residents reach, e.g. 127.0.0.1:8080")
@click.option("--node", "nodes", multiple=True, required=True, help="an app node, host:port")
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="requests one node serves at once (default: gunicorn.conf.py's workers x threads)",
)
@click.option("--stats", default=None, help="internal address of /metrics and /stats")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
def render(
    listen: str, nodes: tuple[str, ...], threads: int | None, stats: str | None, out: Path
) -> None:
    """Write haproxy.cfg, traffic.map and the rejection bodies into OUT."""
    config = write_config(
        current_app,
        listen=listen,
        nodes=list(nodes),
        threads=threads or gunicorn_slots(),
        stats=stats,
        out=out,
    )
    click.echo(f"{config} (check: haproxy -c -f {config}; run: haproxy -W -f {config})")


@edge.command("map")
def map_() -> None:
    """Print traffic.map (committed as config/edge/traffic.map)."""
    click.echo(traffic_map(current_app), nl=False)
