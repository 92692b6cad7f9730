"""The results screen is kept once per language: the gate picks the field from
``Accept-Language`` (``results``, ``results@en``) with no I/O, and sends that field's body."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from miniapp_api.accountview import (
    CODE_SCREEN,
    PREFETCHED_VIEW,
    RESULTS_SCREEN,
    ViewSnapshot,
    encode,
    entity_tag,
    every_language,
)
from miniapp_api.admission.kept import KeptAnswers
from miniapp_api.admission.routes import Route
from miniapp_api.api import TrafficClass

RESULTS = Route(TrafficClass.CRITICAL, kept=RESULTS_SCREEN)
CODE = Route(TrafficClass.CRITICAL, kept=CODE_SCREEN)


def environ(language: str | None = None, **extra: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"REQUEST_METHOD": "GET", "PATH_INFO": "/api/v1/results", **extra}
    if language is not None:
        found["HTTP_ACCEPT_LANGUAGE"] = language
    return found


def test_the_gate_reads_the_field_of_the_callers_language() -> None:
    fields = {
        language: RESULTS.kept_for(environ(language), {})
        for language in (None, "zh-CN", "en", "en-US,zh;q=0.5", "fr", "zh;q=0.4, en;q=0.9")
    }
    assert {language: kept[1] for language, kept in fields.items() if kept} == {
        None: "results",
        "zh-CN": "results",
        "en": "results@en",
        "en-US,zh;q=0.5": "results@en",
        "fr": "results",
        "zh;q=0.4, en;q=0.9": "results@en",
    }
    # The default language's screen is the declared one itself: nothing made per request.
    default = fields[None]
    assert default is not None
    assert default[0] is RESULTS_SCREEN
    again, first = RESULTS.kept_for(environ("en"), {}), fields["en"]
    assert again is not None
    assert first is not None
    assert again[0] is first[0]  # made once, then found


def test_a_screen_without_words_is_the_same_in_every_language() -> None:
    arguments = {"resident_id": "r_1"}
    assert CODE.kept_for(environ("en"), arguments) == (CODE_SCREEN, "code:r_1")
    assert CODE_SCREEN.in_("en") is CODE_SCREEN
    assert "Content-Language" not in CODE_SCREEN.headers()


def test_dropping_a_field_drops_it_in_every_language() -> None:
    assert every_language(["results"]) == ["results", "results@en"]
    assert every_language([]) == []


def send(field: str, language: str | None, **extra: Any) -> tuple[str, dict[str, str], Any]:
    now = time.time()
    kept: dict[str, bytes | None] = {
        "results": encode(b'{"zh":1}', now + 60),
        "results@en": encode(b'{"en":1}', now + 60),
    }
    snapshot = ViewSnapshot("a1", b"1", None, kept)
    started: list[str] = []
    headers: dict[str, str] = {}

    def start_response(
        status: str, sent: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], object]:
        started.append(status)
        headers.update(sent)
        return lambda data: None

    request = environ(language, **{PREFETCHED_VIEW: snapshot}, **extra)
    chosen = RESULTS.kept_for(request, {})
    assert chosen is not None
    assert chosen[1] == field
    body = KeptAnswers("t1").answer(request, start_response, chosen)
    return started[0], headers, body


def test_the_gate_sends_the_body_and_language_of_the_field_it_read() -> None:
    zh = send("results", None)
    en = send("results@en", "en")

    assert (zh[0], zh[2], zh[1]["Content-Language"]) == ("200 OK", [b'{"zh":1}'], "zh-CN")
    assert (en[0], en[2], en[1]["Content-Language"]) == ("200 OK", [b'{"en":1}'], "en")
    assert zh[1]["Vary"] == en[1]["Vary"] == "Accept-Language"
    assert zh[1]["ETag"] == entity_tag(b'{"zh":1}')
    assert en[1]["ETag"] == entity_tag(b'{"en":1}')


def test_a_304_carries_no_content_language() -> None:
    status, headers, body = send("results@en", "en", HTTP_IF_NONE_MATCH=entity_tag(b'{"en":1}'))
    assert (status, body) == ("304 Not Modified", [])
    assert "Content-Language" not in headers
    assert headers["Vary"] == "Accept-Language"
