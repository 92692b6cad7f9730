"""The set-up of ``bench/login.py``: credentials, the two emulators, the app, Redis.

Everything runs under gunicorn as child processes whose clean-ups go on the caller's
``ExitStack``: the emulators (one process per platform, from :mod:`_emulator_app`) and the app
(``config/gunicorn.conf.py``, ``wsgi:app``) placed in the bench by ``MINIAPP_*`` variables.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import sys
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from _procs import Child, free_port, wait_healthy

from channels.emulator.config import generate_rsa_private_key_pem, public_key_pem

ROOT = Path(__file__).resolve().parent.parent
ADMIN_DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
# Each call sleeping in the emulated latency holds one emulator thread: at 100 ms and 64 clients
# at most 64 are in flight, so 128 threads are never the limit.
EMULATOR_THREADS = 128


def b64_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def non_json_secret() -> str:
    """A 32-hex-character app secret that Flask's prefixed-env loader keeps as a string.

    (``from_prefixed_env`` JSON-decodes values: an all-digit hex secret would become an int.)
    """
    return "a" + secrets.token_hex(16)[1:]


@dataclass(frozen=True)
class Credentials:
    """Our app on both platforms, made up for one run and registered with the emulators."""

    wechat_app_id: str
    wechat_app_secret: str
    # All digits, as Alipay's are: the app's settings read it back with str() after
    # from_prefixed_env has made it an int.
    alipay_app_id: str
    alipay_app_private_key: str  # PKCS#8 PEM; the emulator holds its public half
    alipay_aes_key: str  # base64 of 16 bytes (phone numbers only: no login uses it)
    alipay_platform_private_key: str  # the emulator signs its answers, the app holds the public

    @classmethod
    def generate(cls) -> Credentials:
        return cls(
            wechat_app_id="wx" + secrets.token_hex(8),
            wechat_app_secret=non_json_secret(),
            alipay_app_id="2021" + str(secrets.randbelow(10**12)).zfill(12),
            alipay_app_private_key=generate_rsa_private_key_pem(),
            alipay_aes_key=base64.b64encode(secrets.token_bytes(16)).decode(),
            alipay_platform_private_key=generate_rsa_private_key_pem(),
        )


def start_emulator(
    stack: ExitStack,
    name: str,
    *,
    factory: str,
    registered: Mapping[str, str],
    cpus: set[int] | None,
) -> tuple[Child, int]:
    """An emulator under gunicorn gthread: one process (its state is in memory), many threads.

    ``factory`` is gunicorn's app (in bench/); ``registered`` the ``BENCH_*`` variables naming
    the apps it knows (environment, so that secrets stay out of ``ps``).
    """
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MINIAPP_", "GUNICORN_"))}
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "--worker-class",
        "gthread",
        "--workers",
        "1",
        "--threads",
        str(EMULATOR_THREADS),
        "--keep-alive",
        "5",
        "--log-level",
        "warning",
        "--bind",
        f"127.0.0.1:{port}",
        "--pythonpath",
        str(ROOT / "bench"),
        factory,
    ]
    child = Child(name, argv, env | dict(registered), ROOT, cpus)
    stack.callback(child.close)
    stack.callback(child.stop)
    wait_healthy(port, "/_emulator/messages", child, timeout=30)
    return child, port


def start_emulators(
    stack: ExitStack, credentials: Credentials, cpus: set[int] | None
) -> dict[str, tuple[Child, int]]:
    """WeChat's and Alipay's emulators, by platform name.

    Two processes, as the platforms are two hosts: one factory of ``_emulator_app`` each.
    """
    wechat = start_emulator(
        stack,
        "emulator-wechat",
        factory="_emulator_app:create()",
        registered={
            "BENCH_WECHAT_APP_ID": credentials.wechat_app_id,
            "BENCH_WECHAT_APP_SECRET": credentials.wechat_app_secret,
        },
        cpus=cpus,
    )
    alipay = start_emulator(
        stack,
        "emulator-alipay",
        factory="_emulator_app:create_alipay_emulator()",
        registered={
            "BENCH_ALIPAY_APP_ID": credentials.alipay_app_id,
            "BENCH_ALIPAY_APP_PUBLIC_KEY": public_key_pem(credentials.alipay_app_private_key),
            "BENCH_ALIPAY_AES_KEY": credentials.alipay_aes_key,
            "BENCH_ALIPAY_PLATFORM_PRIVATE_KEY": credentials.alipay_platform_private_key,
        },
        cpus=cpus,
    )
    return {"wechat": wechat, "alipay": alipay}


def start_app(
    stack: ExitStack,
    args: argparse.Namespace,
    *,
    database_url: str,
    credentials: Credentials,
    emulator_ports: Mapping[str, int],
    cpus: set[int] | None,
) -> tuple[Child, int]:
    port = free_port()
    # MINIAPP_* tuning variables of the caller's environment pass (e.g. DATABASE__POOL_SIZE);
    # everything that places the app in this bench is overridden.
    placed = {
        "MINIAPP_ENV": "staging",
        "MINIAPP_BIND": f"127.0.0.1:{port}",
        "MINIAPP_WORKERS": str(args.workers),
        "MINIAPP_THREADS": str(args.threads),
        "MINIAPP_DATABASE__URL": database_url,
        "MINIAPP_REDIS__URL": REDIS_URL,
        "MINIAPP_SECURITY__DATA_KEY": b64_key(),
        "MINIAPP_SECURITY__INDEX_KEY": b64_key(),
        "MINIAPP_CODES__SIGNING_KEYS": json.dumps([{"kid": "b1", "private_key": b64_key()}]),
        "MINIAPP_WECHAT__APP_ID": credentials.wechat_app_id,
        "MINIAPP_WECHAT__APP_SECRET": credentials.wechat_app_secret,
        "MINIAPP_WECHAT__API_BASE_URL": f"http://127.0.0.1:{emulator_ports['wechat']}",
        "MINIAPP_ALIPAY__APP_ID": credentials.alipay_app_id,
        "MINIAPP_ALIPAY__APP_PRIVATE_KEY": credentials.alipay_app_private_key,
        "MINIAPP_ALIPAY__ALIPAY_PUBLIC_KEY": public_key_pem(
            credentials.alipay_platform_private_key
        ),
        "MINIAPP_ALIPAY__AES_KEY": credentials.alipay_aes_key,
        "MINIAPP_ALIPAY__GATEWAY_URL": f"http://127.0.0.1:{emulator_ports['alipay']}/gateway.do",
        # WARNING: no per-request access line, so logging costs the app no CPU in the bench.
        "MINIAPP_LOGGING__LEVEL": "WARNING",
        # What is measured is how well threads hide platform latency, with 64 closed-loop clients
        # that keep the CPU saturated on purpose; admission control would (rightly) refuse part
        # of that, and is measured by bench/overload.py. Its gunicorn worker (the door) stays.
        "MINIAPP_OVERLOAD__ENABLED": "false",
    }
    passed = sorted(k for k in os.environ if k.startswith("MINIAPP_") and k not in placed)
    if passed:
        print(f"  from the environment: {', '.join(passed)}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUNICORN_")} | placed
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        str(ROOT / "config" / "gunicorn.conf.py"),
        "wsgi:app",
    ]
    child = Child("gunicorn", argv, env, ROOT, cpus)
    stack.callback(child.close)
    stack.callback(child.stop)
    wait_healthy(port, "/healthz", child, timeout=60)
    return child, port


def flush_redis() -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        client.flushdb(asynchronous=True)
    finally:
        client.close()
