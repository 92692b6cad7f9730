"""``miniapp worker``: the push worker, as a long-running process or one batch (``--once``)."""

from __future__ import annotations

import json
import signal
import threading
from types import FrameType

import click
from flask.cli import with_appcontext

from miniapp_api.db import utcnow
from miniapp_api.notify.worker import PushWorker
from miniapp_api.wiring import wiring


@click.command("worker")
@click.option("--once", is_flag=True, help="Send one batch of due messages, print counts, exit.")
@with_appcontext
def worker(once: bool) -> None:
    """Send pending push messages (WeChat subscribe, Alipay mini-program messages).

    Runs until SIGTERM or Ctrl-C; the row being sent is finished first, and rows claimed but
    not started are handed back. Several workers may run side by side.
    """
    wire = wiring()
    push = PushWorker(wire.db, wire.channels, wire.settings.notify)
    if once:
        stats = push.run_once(utcnow())
        click.echo(json.dumps(stats.as_dict(), sort_keys=True))
        return
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    push.run_forever(stop)
