"""The process time zone: Beijing time, which the platforms and the residents live in.

alipay-sdk-python stamps every gateway request with ``datetime.now()`` (local time) and the
gateway reads it as Beijing time: on a server whose zone is UTC every request would be 8 hours
off and refused (``isv.invalid-timestamp``). Ages ("under 14") are also counted on the Beijing
calendar date. Our own timestamps are timezone-aware UTC and are not affected.
"""

from __future__ import annotations

import os
import time


def apply_process_timezone(zone: str) -> None:
    """Set the process's local zone (``TZ``) unless the environment chose one already."""
    if os.environ.get("TZ") != zone and "TZ" not in os.environ:
        os.environ["TZ"] = zone
    time.tzset()
