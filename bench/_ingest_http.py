"""The HTTP sample of ``bench/ingest.py``: the app under gunicorn, lab uploads signed as a lab
signs them (HMAC-SHA256 over method, path, timestamp, nonce and body hash:
miniapp_api/lab/signing.py)."""

from __future__ import annotations

import base64
import http.client
import json
import os
import queue
import secrets
import sys
import threading
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from _procs import LOOPBACK, Child, free_port, wait_healthy

from miniapp_api.lab.signing import sign

ROOT = Path(__file__).resolve().parent.parent
RESULTS_PATH = "/api/v1/lab/results"


@dataclass(frozen=True)
class LabKey:
    lab_id: str
    secret: str = field(repr=False)


def b64_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def start_app(
    stack: ExitStack,
    database_url: str,
    redis_url: str,
    data_keys: tuple[str, str],
    workers: int,
) -> tuple[Child, int]:
    """gunicorn with ``config/gunicorn.conf.py`` and ``MINIAPP_ENV=staging`` (production-shaped,
    with the emulator); the data keys are the bench's, so the lab secret the set-up encrypted
    decrypts. The caller's other
    ``MINIAPP_*`` variables pass (``MINIAPP_LAB__MAX_BATCH`` must match the bench's)."""
    port = free_port()
    placed = {
        "MINIAPP_ENV": "staging",
        "MINIAPP_BIND": f"{LOOPBACK}:{port}",
        "MINIAPP_WORKERS": str(workers),
        "MINIAPP_THREADS": "4",
        "MINIAPP_DATABASE__URL": database_url,
        "MINIAPP_REDIS__URL": redis_url,
        "MINIAPP_SECURITY__DATA_KEY": data_keys[0],
        "MINIAPP_SECURITY__INDEX_KEY": data_keys[1],
        "MINIAPP_CODES__SIGNING_KEYS": json.dumps([{"kid": "b1", "private_key": b64_key()}]),
        # No login happens here, but one platform must be configured: it points at a closed
        # loopback port, so nothing could leave the machine.
        "MINIAPP_WECHAT__APP_ID": "wxbench00000001",
        "MINIAPP_WECHAT__APP_SECRET": "a" + secrets.token_hex(15),
        "MINIAPP_WECHAT__API_BASE_URL": f"http://{LOOPBACK}:9",
        "MINIAPP_ALIPAY__APP_ID": "",
        "MINIAPP_LOGGING__LEVEL": "WARNING",
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUNICORN_")} | placed
    conf = str(ROOT / "config" / "gunicorn.conf.py")
    child = Child("gunicorn", [sys.executable, "-m", "gunicorn", "-c", conf, "wsgi:app"], env, ROOT)
    stack.callback(child.close)
    stack.callback(child.stop)
    wait_healthy(port, "/healthz", child, timeout=60)
    return child, port


def upload(
    port: int, lab: LabKey, bodies: Sequence[bytes], keys: Sequence[str], clients: int
) -> tuple[int, float]:
    """Upload every batch, ``clients`` at a time (one keep-alive connection each), each request
    signed with a fresh nonce and sent with its Idempotency-Key; (person results, seconds).
    Raises on any answer but 200."""
    todo: queue.Queue[tuple[bytes, str]] = queue.Queue()
    for pair in zip(bodies, keys, strict=True):
        todo.put(pair)
    people: list[int] = []
    errors: list[str] = []

    def client() -> None:
        connection = http.client.HTTPConnection(LOOPBACK, port, timeout=120)
        try:
            while not errors:
                try:
                    body, key = todo.get_nowait()
                except queue.Empty:
                    return
                stamp, nonce = str(int(time.time())), secrets.token_hex(8)
                headers = {
                    "Content-Type": "application/json",
                    "X-Lab-Id": lab.lab_id,
                    "X-Timestamp": stamp,
                    "X-Nonce": nonce,
                    "X-Signature": sign(lab.secret, "POST", RESULTS_PATH, stamp, nonce, body),
                    "Idempotency-Key": key,
                }
                connection.request("POST", RESULTS_PATH, body, headers)
                response = connection.getresponse()
                raw = response.read()
                if response.status != 200:
                    errors.append(f"HTTP {response.status}: {raw[:300]!r}")
                    return
                items = json.loads(raw)["items"]
                people.append(sum(int(item.get("people", 0)) for item in items))
        except (OSError, http.client.HTTPException) as error:
            errors.append(f"{type(error).__name__}: {error}")
        finally:
            connection.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - started
    if errors:
        raise RuntimeError(f"HTTP sample failed: {errors[0]}")
    return sum(people), seconds
