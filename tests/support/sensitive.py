"""Every secret or personal value a test hands to the system, to check none of it leaks.

``tests/test_no_leaks.py`` (run last) searches all captured log lines and API responses of the
run for these values.
"""

from __future__ import annotations

import io

# Never in a response or a log line: full ID numbers, phones, session keys, app secrets.
PERSONAL_AND_SECRET: set[str] = set()
# Never in a log line (they are in login responses by design): our session tokens.
TOKENS: set[str] = set()

LOG_BUFFER = io.StringIO()
RESPONSES: list[str] = []


def remember(*values: str) -> None:
    PERSONAL_AND_SECRET.update(v for v in values if v)
