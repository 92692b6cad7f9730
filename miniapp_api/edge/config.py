"""Everything HAProxy needs, rendered into one directory from the app itself."""

from __future__ import annotations

import runpy
from dataclasses import dataclass
from pathlib import Path

import jinja2
from flask import Flask

from miniapp_api.settings import config_dir
from miniapp_api.wiring import wiring_of

from .bodies import NODE_FAILED, QUOTA, SHEDDING, alternatives_map, edge_body
from .limits import quota_retry_after, quotas
from .settings import edge_settings
from .traffic import EXEMPT, render_map, traffic_lines

TEMPLATE = "haproxy.cfg.j2"  # in config/
# set-priority-class: lower is dequeued first. Probes and metrics go first of all.
PRIORITY = {EXEMPT: -1, "critical": 0, "normal": 1, "sheddable": 2}


@dataclass(frozen=True)
class Jitter:
    """``Retry-After`` as the app jitters it: ``base`` up to +50%, whole seconds, at least 1."""

    low: int
    spread: int  # rand(spread) adds 0 .. spread-1

    @classmethod
    def of(cls, base: float) -> Jitter:
        low = max(1, round(base))
        return cls(low, max(low + 1, round(base * 1.5)) - low + 1)


def write_config(
    app: Flask, *, listen: str, nodes: list[str], threads: int, stats: str | None, out: Path
) -> Path:
    """Write haproxy.cfg, its maps and rejection bodies into ``out``; the config's path.

    ``threads`` is what one node serves at once (its gunicorn workers x threads): its
    ``maxconn``, so requests wait in HAProxy's priority queue, never inside gunicorn.
    """
    if not nodes:
        raise ValueError("at least one app node is needed")
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    wire = wiring_of(app)
    edge = edge_settings(app.config)
    (out / "traffic.map").write_text(traffic_map(app))
    (out / "alternatives.map").write_text(alternatives_map(wire.rejections))
    bodies = {
        name: edge_body(wire.rejections, rejection, str(out / "alternatives.map"))
        for name, rejection in (
            ("quota", QUOTA),
            ("shedding", SHEDDING),
            ("node_failed", NODE_FAILED),
        )
    }
    for name, body in bodies.items():
        (out / f"{name}.json").write_text(body.log_format)
    text = _template().render(
        out=out,
        listen=listen,
        nodes=nodes,
        threads=threads,
        stats=stats,
        edge=edge,
        priority=PRIORITY,
        quotas=quotas(wire.settings.overload, edge, threads * len(nodes)),
        bodies=bodies,
        shedding_jitter=Jitter.of(edge.retry_after),
        quota_jitter=Jitter.of(quota_retry_after(wire.settings.overload)),
    )
    config = out / "haproxy.cfg"
    config.write_text(text)
    return config


def traffic_map(app: Flask) -> str:
    """The text of ``traffic.map`` (committed as config/edge/traffic.map)."""
    return render_map(traffic_lines(app))


def gunicorn_slots() -> int:
    """Requests one node serves at once as config/gunicorn.conf.py sets it (workers x threads,
    from MINIAPP_WORKERS and MINIAPP_THREADS): the default of ``--threads``."""
    found = runpy.run_path(str(config_dir() / "gunicorn.conf.py"))
    return int(found["workers"]) * int(found["threads"])


def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(config_dir()),
        autoescape=False,  # noqa: S701 (an HAProxy config, not HTML)
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template(TEMPLATE)
