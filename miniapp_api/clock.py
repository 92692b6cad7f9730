"""The process time zone: Beijing time, which the platforms and the residents live in.

alipay-sdk-python stamps every gateway request with ``datetime.now()`` (local time) and the
gateway reads it as Beijing time: on a server whose zone is UTC every request would be 8 hours
off and refused (``isv.invalid-timestamp``). Ages ("under 14") are also counted on the Beijing
calendar date. Our own timestamps are timezone-aware UTC and are not affected.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator


def apply_process_timezone(zone: str) -> None:
    """Set the process's local zone (``TZ``) unless the environment chose one already."""
    if os.environ.get("TZ") != zone and "TZ" not in os.environ:
        os.environ["TZ"] = zone
    time.tzset()


def _as_utc(moment: datetime) -> datetime:
    # SQLite hands timestamps back naive; we store UTC only, so naive means UTC. PostgreSQL
    # hands them back in the session's time zone (a server set to Asia/Shanghai: +08:00).
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# A timestamp in a response: always with its offset (RFC 3339 ``date-time``), whichever
# database it came from. Response schemas use it for every ``datetime`` field.
UtcDateTime = Annotated[datetime, AfterValidator(_as_utc)]
