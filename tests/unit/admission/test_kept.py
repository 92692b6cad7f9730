"""A kept screen answered at the gate writes the same access line Flask's hooks write."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from miniapp_api.accountview import (
    PREFETCHED_VIEW,
    RESULTS_SCREEN,
    ViewSnapshot,
    encode,
    entity_tag,
    not_modified,
)
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


def answer_of(environ: dict[str, Any]) -> tuple[list[str], list[tuple[str, str]], Any]:
    """The status, headers and body the gate sends for ``environ``'s kept results screen."""
    started: list[str] = []
    sent: list[tuple[str, str]] = []

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], object]:
        started.append(status)
        sent.extend(headers)
        return lambda data: None

    body = KeptAnswers("t1").answer(environ, start_response, (RESULTS_SCREEN, "results"))
    return started, sent, body


def test_the_gate_answers_304_when_the_client_holds_the_kept_body(
    written: io.StringIO,
) -> None:
    kept = encode(b'{"residents": []}', time.time() + 60)
    tag = entity_tag(b'{"residents": []}')
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/api/v1/results",
        "HTTP_IF_NONE_MATCH": f'"stale", W/{tag}',
        PREFETCHED_VIEW: ViewSnapshot("a1", b"1", None, {"results": kept}),
    }

    started, headers, body = answer_of(environ)

    assert started == ["304 Not Modified"]
    assert body == []  # an answer, with no body: not None, which would send it on to Flask
    names = dict(headers)
    assert names["ETag"] == tag
    assert names["Cache-Control"] == "private, no-store"
    assert "Content-Type" not in names
    assert "Content-Length" not in names
    (line,) = [json.loads(text) for text in written.getvalue().splitlines()]
    assert line["status"] == 304


def test_a_value_kept_before_tags_is_rebuilt_not_misread() -> None:
    # "<until>|<version>|<body>": a body with a "|" in it must not pass for a tag.
    until = int(time.time() + 60)
    old: dict[str, bytes | None] = {
        "results": b'%d||{"site": "A|B"}' % until,
        "code:r_1": b"%d|k1|{}" % until,
    }
    seen = ViewSnapshot("a1", b"1", None, old)

    assert seen.kept("results", time.time()) is None
    assert seen.kept("code:r_1", time.time(), "k1") is None


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        ("", False),
        ('"abc"', True),
        ('W/"abc"', True),
        ('"x", "abc"', True),
        (' "x" ,W/"abc" ', True),
        ("*", True),
        ('"abcd"', False),
        ('"ab"', False),
        ("abc", False),
    ],
)
def test_if_none_match_is_compared_weakly(header: str, matches: bool) -> None:
    assert not_modified(header, '"abc"') is matches
