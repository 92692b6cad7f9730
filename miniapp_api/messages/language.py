"""The language of an answer: Simplified Chinese unless ``Accept-Language`` prefers English."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

Language = Literal["zh", "en"]
LANGUAGES: tuple[Language, ...] = ("zh", "en")
DEFAULT: Language = "zh"
# The tag sent in Content-Language for each.
CONTENT_LANGUAGE: dict[Language, str] = {"zh": "zh-CN", "en": "en"}
_MAX_HEADER = 256  # longer headers are not parsed (nobody sends more than a few tags)


@dataclass(frozen=True)
class Text:
    """One sentence in both languages."""

    zh: str
    en: str

    def in_(self, language: Language) -> str:
        return self.zh if language == "zh" else self.en


@lru_cache(maxsize=512)
def negotiate(header: str | None) -> Language:
    """The language of ``Accept-Language``: every ``zh`` tag (zh-CN, zh-Hans, zh-TW, ...) is
    zh, every ``en`` tag is en; the one with the higher q-value wins, the first listed on a tie;
    anything else, or nothing, is zh."""
    if not header or len(header) > _MAX_HEADER:
        return DEFAULT
    best: Language = DEFAULT
    best_q = 0.0
    for tag, quality in parse_accept_header(header, LanguageAccept):
        primary = tag.lower().replace("_", "-").split("-", 1)[0]
        if primary in LANGUAGES and quality > best_q:
            best, best_q = primary, quality
    return best


def language_of(environ: dict[str, object]) -> Language:
    """:func:`negotiate` for a WSGI request."""
    header = environ.get("HTTP_ACCEPT_LANGUAGE")
    return negotiate(header if isinstance(header, str) else None)
