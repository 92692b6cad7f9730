"""A real HAProxy, rendered by ``write_config`` from an app with the settings a test needs,
in front of a backend the test controls."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from miniapp_api.edge import write_config
from tests.integration.edge.running import HAProxy, running_haproxy
from tests.support.apps import MakeApp
from tests.support.redis_servers import free_port

if shutil.which("haproxy") is None:  # pragma: no cover (make machine installs it)
    raise RuntimeError("haproxy is not on PATH: run `make machine` (Debian's haproxy 2.6)")

StartEdge = Callable[..., AbstractContextManager[tuple[HAProxy, str]]]


@pytest.fixture
def start_edge(make_app: MakeApp, tmp_path: Path) -> StartEdge:
    """``with start_edge(nodes, edge={...}, **overload) as (haproxy, listen)``: HAProxy with
    one-slot nodes, rendered from an app with these [EDGE] and [OVERLOAD] settings."""

    @contextmanager
    def start(
        nodes: list[str], *, edge: dict[str, Any] | None = None, **overload: Any
    ) -> Iterator[tuple[HAProxy, str]]:
        app = make_app(sections={"EDGE": edge or {}}, **overload)
        listen = f"127.0.0.1:{free_port()}"
        # A short directory: the admin socket's path must fit in 108 bytes.
        out = Path(str(tmp_path)) / "edge"
        config = write_config(app, listen=listen, nodes=nodes, threads=1, stats=None, out=out)
        with running_haproxy(config) as haproxy:
            yield haproxy, listen

    return start
