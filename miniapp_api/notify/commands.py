"""``miniapp worker``: the push worker, as a long-running process or one batch (``--once``)."""

from __future__ import annotations

import json
import signal
import threading
from types import FrameType

import click
from flask import current_app
from flask.cli import with_appcontext

from miniapp_api.db import utcnow
from miniapp_api.notify.worker import run_forever, run_once
from miniapp_api.wiring import EXTENSION_KEY, Wiring


@click.command("worker")
@click.option("--once", is_flag=True, help="Send one batch of due messages, print counts, exit.")
@with_appcontext
def worker(once: bool) -> None:
    """Send pending push messages (WeChat subscribe, Alipay mini-program messages).

    Runs until SIGTERM or Ctrl-C; the row being sent is finished first, and rows claimed but
    not started are handed back. Several workers may run side by side.
    """
    wire = current_app.extensions[EXTENSION_KEY]
    assert isinstance(wire, Wiring)
    if once:
        stats = run_once(wire.db, wire.channels, wire.settings.notify, utcnow())
        click.echo(json.dumps(stats.as_dict(), sort_keys=True))
        return
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    run_forever(wire.db, wire.channels, wire.settings.notify, stop)
