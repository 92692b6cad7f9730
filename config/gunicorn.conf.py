"""gunicorn settings for production: `gunicorn -c config/gunicorn.conf.py wsgi:app`.

Worker model: gthread (a few processes, many threads each). Login and phone binding wait on the
platforms (100 ms and more at busy times); while a thread waits on that socket it holds no CPU
and releases the GIL, so other threads of the same worker keep serving. Threads need no monkey
patching (gevent would have to patch psycopg, redis-py, requests and the Alipay SDK's
http.client, and one unpatched blocking call would stall every greenlet of the worker).
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sys
import tempfile

from gunicorn.glogging import Logger

from miniapp_api.settings import ConfigurationError, load_env_file

# Before anything below reads the environment: .env in the working directory, or the file
# MINIAPP_ENV_FILE names, never over variables already set. The master reads this file again
# on a HUP, and with it the env file; the workers it forks inherit the result.
try:
    load_env_file()
except ConfigurationError as error:
    raise SystemExit(f"gunicorn: {error}") from None

public_bind = os.environ.get("MINIAPP_BIND", "0.0.0.0:8000")
# The internal listener (OPS.INTERNAL_BIND): /metrics, /readyz, /openapi.json without a token.
internal_bind = os.environ.get("MINIAPP_OPS__INTERNAL_BIND", "")
bind = [public_bind, internal_bind] if internal_bind else [public_bind]
workers = int(os.environ.get("MINIAPP_WORKERS", multiprocessing.cpu_count()))
# Enough threads that a 100 ms platform round trip is hidden by concurrency: at 16 threads a
# worker keeps ~150 logins/s in flight at that latency, about what its CPU can serve anyway;
# more threads only fight over the GIL (lookups cost more CPU each at 32 than at 16).
threads = int(os.environ.get("MINIAPP_THREADS", "16"))
# gthread, with a bound on the requests waiting for a thread (one per thread, MINIAPP_MAX_QUEUED:
# a login's thread mostly waits on the platform; critical requests MINIAPP_CRITICAL_QUEUE = 4
# more): beyond it a connection is answered 503 at once, on
# the worker's main thread, without parsing the request (miniapp_api/admission/door.py). Plain
# gthread queues without bound, where no admission check can see the wait.
worker_class = "miniapp_api.admission.door.SheddingThreadWorker"
# Few connections and a short kernel backlog: what cannot be served soon is refused at the door
# or not accepted, instead of waiting where nobody measures it (bench/overload.py: 10x B
# goodput above B with these; stock gthread, 1000 connections and a 2048 backlog: zero).
worker_connections = int(os.environ.get("MINIAPP_WORKER_CONNECTIONS", str(threads * 4)))
backlog = int(os.environ.get("MINIAPP_BACKLOG", "64"))
# A request that takes longer than this is broken; platform calls time out well before.
timeout = 30
graceful_timeout = 20
keepalive = 5
# Connections are made lazily in each worker (no preload): nothing is shared across a fork.
preload_app = False
accesslog = None  # our JSON access line (miniapp_api.logging) carries the request id


class AccessLogOnlyWhenAsked(Logger):
    """gunicorn's logger, building its access line only when ``accesslog`` is set.

    Stock gunicorn builds one whenever a logging configuration is given (``logconfig_dict``
    below): its atoms, a record and our redaction over them, on every request, for a logger
    with no handler. That was 7.6% of a lookup's CPU (``make profile-hotpath``); an operator
    who wants gunicorn's Apache-style line too passes ``--access-logfile``.
    """

    @property
    def access_log_enabled(self) -> bool:
        return bool(self.cfg.accesslog)


logger_class = AccessLogOnlyWhenAsked
errorlog = "-"
loglevel = os.environ.get("MINIAPP_LOGGING__LEVEL", "info").lower()
# gunicorn's own lines (boot, worker timeouts) in the same JSON shape as the app's.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "miniapp_api.logging.JsonFormatter"}},
    # gunicorn merges this over its defaults, whose loggers use these two handler names.
    "handlers": {
        name: {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
        for name in ("console", "error_console")
    },
    # The app installs its own root handler (request id, redaction) in each worker.
    "root": {"level": "WARNING", "handlers": []},
    "loggers": {
        "gunicorn.error": {
            "level": loglevel.upper(),
            "handlers": ["error_console"],
            "propagate": False,
        }
    },
}


def on_starting(server: object) -> None:
    """Redact gunicorn's own log lines (its loggers do not reach the app's root handler), in
    the master before it forks; refuse several workers on the in-process Redis stand-in:
    each would have its own data."""
    # Imported here, not at the top: nothing of the app loads before _metrics_dir() has run.
    from miniapp_api.logging import redact_gunicorn_loggers

    redact_gunicorn_loggers()
    redis_url = os.environ.get("MINIAPP_REDIS__URL", "")
    if workers > 1 and (not redis_url or redis_url.startswith("memory://")):
        raise SystemExit(
            "gunicorn: MINIAPP_REDIS__URL is the in-process stand-in (memory://), which is "
            "single-process only; set a real redis:// URL or run with MINIAPP_WORKERS=1."
        )
    _prepare_metrics_dir()


def _metrics_dir() -> str:
    """Several workers share Prometheus counters through files in PROMETHEUS_MULTIPROC_DIR.

    It must be set before anything imports prometheus_client, which picks its value class
    (in memory or in files) once, at import: the master imports the worker class
    (admission/door.py, which counts refusals) before any server hook runs. So it is set
    here, as this file is read; in a hook, every worker counted in its own memory and
    /metrics served nothing of theirs.
    """
    path = os.environ.setdefault(
        "PROMETHEUS_MULTIPROC_DIR",
        os.path.join(tempfile.gettempdir(), f"miniapp-metrics-{bind_port()}"),
    )
    os.makedirs(path, exist_ok=True)
    return path


def _prepare_metrics_dir() -> None:
    """Emptied at start (not on a reload: live workers' files are in it), so counts of a
    previous run do not add up into this one."""
    path = _metrics_dir()
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, exist_ok=True)


def bind_port() -> str:
    return public_bind.rsplit(":", 1)[-1]


_metrics_dir()


def _control_socket() -> str:
    """gunicorn's control socket (``gunicornc -s PATH``), one per instance like the metrics
    directory: gunicorn's default ($XDG_RUNTIME_DIR/gunicorn.ctl) is one path for every
    instance a user starts, so two nodes on one machine (`miniapp stack up`) would share it.
    MINIAPP_CONTROL_SOCKET wins (the systemd unit puts it in its RuntimeDirectory)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    directory = runtime if runtime and os.path.isdir(runtime) else tempfile.gettempdir()
    default = os.path.join(directory, f"miniapp-gunicorn-{bind_port()}.ctl")
    return os.environ.get("MINIAPP_CONTROL_SOCKET") or default


control_socket = _control_socket()


def when_ready(server: object) -> None:
    """Warn (never refuse) when this node's connection pools could take more than their share
    of PostgreSQL's max_connections. Here, once, in the master: it alone knows the worker
    count (miniapp_api/ops/sizing.py)."""
    from miniapp_api.ops.sizing import check_node

    # The setting as gunicorn took it: a --workers on the command line wins over this file.
    check_node(workers=server.cfg.workers, log=server.log)  # type: ignore[attr-defined]


def post_fork(server: object, worker: object) -> None:
    """How long a thread may hold the GIL before another gets it (Python's default: 5 ms).

    Shorter lets the worker's main thread (which accepts and sheds at the door) and short
    requests (rejections) get the GIL sooner while long ones run.
    """
    sys.setswitchinterval(float(os.environ.get("MINIAPP_SWITCH_INTERVAL", "0.005")))


def child_exit(server: object, worker: object) -> None:
    """Drop a dead worker's live gauges from the shared metrics files."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]
