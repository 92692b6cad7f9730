"""The platform emulator as its own process, for benchmarks: prints its base URL, then serves.

The registered WeChat app comes from ``BENCH_WECHAT_APP_ID`` / ``BENCH_WECHAT_APP_SECRET``
(environment, so the secret stays out of ``ps``). Alipay is not registered. werkzeug's threaded
server runs one thread per connection, so calls sleeping in an injected latency do not queue
behind each other. Per-request access lines are turned off: they would cost the emulator CPU.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

from channels.emulator import EmulatorConfig, start_in_thread


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    config = EmulatorConfig(
        wechat_apps={os.environ["BENCH_WECHAT_APP_ID"]: os.environ["BENCH_WECHAT_APP_SECRET"]}
    )
    running = start_in_thread(config, port=int(os.environ.get("BENCH_EMULATOR_PORT", "0")))
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    # The parent reads this one line to learn the port (port 0 lets the kernel pick a free one).
    print(running.base_url, flush=True)
    stopped.wait()
    running.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
