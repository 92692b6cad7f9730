"""The words of the H5 lookup page (``GET /lookup``), in both languages, as the data it is
rendered with.

The page shows every message Chinese first with its English beneath, from one answer: it does
not show the answer's ``message`` (one language) but looks up the answer's ``code`` (the
catalogue's keys, as the client module does), the result's ``guidance_code`` and each
alternative's ``kind`` in this table. The table holds every error code the OpenAPI document
lists for ``POST /api/v1/lookup`` (``tests/integration/lookup/test_page.py`` holds it to that)
and is the same for everyone (the overdue hours come from the settings), so the page stays
cacheable. A code the table lacks falls back to the answer's own (Chinese) message.
"""

from __future__ import annotations

from functools import lru_cache

from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup

from miniapp_api.messages import CATALOGUE, GUIDANCE, LANGUAGES, Text
from miniapp_api.messages import rejections as words
from miniapp_api.messages.lookup import NO_MATCH, PAGE_ERRORS

# {"zh": ..., "en": ...}
Both = dict[str, str]


@lru_cache(maxsize=8)
def page_text(codes: tuple[str, ...], overdue_hours: int) -> dict[str, dict[str, Both]]:
    """``errors`` by code (``codes``: those the lookup may answer), ``guidance`` by guidance
    code (``{site}`` left for the page to fill), ``alternatives`` by kind (the other
    platform's as ``other_platform.<platform>.<status>``)."""
    errors = {code: Text(CATALOGUE[code].zh, CATALOGUE[code].en) for code in codes}
    errors["not_found"] = NO_MATCH
    errors.update(PAGE_ERRORS)
    guidance: dict[str, Text] = {
        code: Text(
            text.zh.format(hours=overdue_hours, site="{site}"),
            text.en.format(hours=overdue_hours, site="{site}"),
        )
        for code, text in GUIDANCE.items()
    }
    alternatives = {"saved_code": words.SAVED_CODE, "push": words.PUSH}
    for platform in words.PLATFORM_NAMES:
        for status in ("ok", *words.PLATFORM_STATUS):
            alternatives[f"other_platform.{platform}.{status}"] = Text(
                *(words.other_platform_message(platform, status, lang) for lang in LANGUAGES)
            )
    return {
        "errors": _both(errors),
        "guidance": _both(guidance),
        "alternatives": _both(alternatives),
    }


@lru_cache(maxsize=8)
def page_text_json(codes: tuple[str, ...], overdue_hours: int) -> Markup:
    """:func:`page_text` as JSON safe inside ``<script type="application/json">`` (``<``,
    ``>``, ``&`` and ``'`` escaped); Chinese as UTF-8, half the bytes of ``\\uXXXX``."""
    return htmlsafe_json_dumps(page_text(codes, overdue_hours), ensure_ascii=False)


def _both(texts: dict[str, Text]) -> dict[str, Both]:
    return {key: {"zh": text.zh, "en": text.en} for key, text in texts.items()}
