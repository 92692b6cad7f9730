"""A kept screen answered at the gate writes the same access line Flask's hooks write."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from miniapp_api.accountview import PREFETCHED_VIEW, RESULTS_SCREEN, ViewSnapshot, encode
from miniapp_api.admission.kept import KeptAnswers
from miniapp_api.logging import build_handler


@pytest.fixture
def written() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = build_handler(out)
    logger = logging.getLogger("miniapp_api.access")
    logger.addHandler(handler)
    yield out
    logger.removeHandler(handler)


def test_the_gates_access_line_names_the_client(written: io.StringIO) -> None:
    snapshot = ViewSnapshot("a1", b"1", None, {"results": encode(b"{}", time.time() + 60)})
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/api/v1/results",
        # What ProxyFix, outermost, leaves for the gate behind a trusted proxy: the client.
        "REMOTE_ADDR": "203.0.113.7",
        "HTTP_X_REQUEST_ID": "kept-0001",
        PREFETCHED_VIEW: snapshot,
    }
    started: list[str] = []

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], object]:
        started.append(status)
        return lambda data: None

    body = KeptAnswers("t1").answer(environ, start_response, (RESULTS_SCREEN, "results"))

    assert body == [b"{}"]
    assert started == ["200 OK"]
    (line,) = [json.loads(text) for text in written.getvalue().splitlines()]
    assert line["client"] == "203.0.113.7"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/api/v1/results", 200)
    assert line["request_id"] == "kept-0001"
    assert isinstance(line["duration_ms"], float)
