"""Reading what the production log handler writes, in tests."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Lines = Callable[[], list[dict[str, Any]]]


@contextmanager
def access_lines_written() -> Iterator[Lines]:
    """The access lines written inside the block, as the production handler writes them."""
    from miniapp_api.logging import build_handler

    written = io.StringIO()
    handler = build_handler(written)
    logger = logging.getLogger("miniapp_api.access")
    logger.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in written.getvalue().splitlines()]
    finally:
        logger.removeHandler(handler)
