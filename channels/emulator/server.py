"""Run the emulator on loopback: in a background thread (tests, `make run`) or as a process."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from channels.emulator.app import create_emulator
from channels.emulator.config import EmulatorConfig


@dataclass
class RunningEmulator:
    """A started emulator; ``base_url`` is what adapters are configured with."""

    app: Flask
    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def base_url(self) -> str:
        return f"http://{self.server.host}:{self.server.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)


class _QuietHandler(WSGIRequestHandler):
    """No access log: the platforms' request lines carry secrets and codes in the query string."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


def start_in_thread(
    config: EmulatorConfig, host: str = "127.0.0.1", port: int = 0
) -> RunningEmulator:
    """Serve an emulator from a daemon thread; port 0 picks a free port."""
    app = create_emulator(config)
    server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="platform-emulator", daemon=True)
    thread.start()
    return RunningEmulator(app, server, thread)
