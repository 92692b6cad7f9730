"""The servers of ``bench/hotpath.py`` beyond bench-overload's: the counted app and its proxies.

The app and the hello are :func:`_overload_apps.start_apps`'s (the same environment as
bench-overload's protected app). The counted app is that app again, with every setting
copied, but reaching Redis and PostgreSQL through the counting proxies of
:mod:`_hotpath_proxy`; it is started by the same launcher, as ``start_without_door`` starts
bench-overload's variant.
"""

from __future__ import annotations

from contextlib import ExitStack
from urllib.parse import urlsplit

from _hotpath_proxy import CountingProxy
from _overload_apps import Server, _gunicorn  # bench-overload's launcher of gunicorns
from _procs import wait_healthy
from sqlalchemy.engine import make_url


def counting_proxies(
    stack: ExitStack, *, redis_port: int, postgres_port: int
) -> tuple[CountingProxy, CountingProxy]:
    """(Redis's, PostgreSQL's) counting proxies, started; stopped with the stack."""
    found = (CountingProxy(redis_port, resp=True), CountingProxy(postgres_port, resp=False))
    for proxy in found:
        proxy.start()
        stack.callback(proxy.stop)
    return found


def start_counted(
    stack: ExitStack,
    ours: Server,
    proxies: tuple[CountingProxy, CountingProxy],
    cpus: set[int] | None,
) -> Server:
    """The app again, as ``ours`` in every setting but that it reaches Redis and PostgreSQL
    through the counting proxies."""
    redis_proxy, postgres_proxy = proxies
    env = dict(ours.environment)
    env.pop("MINIAPP_BIND")
    redis_url = urlsplit(env["MINIAPP_REDIS__URL"])
    credentials = redis_url.netloc.rpartition("@")[0]
    netloc = (credentials + "@" if credentials else "") + f"127.0.0.1:{redis_proxy.port}"
    env["MINIAPP_REDIS__URL"] = redis_url._replace(netloc=netloc).geturl()
    env["MINIAPP_DATABASE__URL"] = (
        make_url(env["MINIAPP_DATABASE__URL"])
        .set(host="127.0.0.1", port=postgres_proxy.port)
        .render_as_string(hide_password=False)
    )
    server = _gunicorn(stack, "counted", "wsgi:app", env, cpus, [])
    wait_healthy(server.port, "/healthz", server.child, timeout=60)
    return server
