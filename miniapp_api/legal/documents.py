"""Which legal documents there are, their versions, and which consents they ask for.

A document's ``version`` is set here by hand when its text changes; its ``sha256`` is the hash
of the page a reader is shown (:func:`content_hash`), recorded with every consent so that what
was agreed to can be proven later. ``tests/integration/legal`` fails when a page's content
changes and its version does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ConsentUse(StrEnum):
    """What a reader is asked to do with a document."""

    NOTICE = "notice"  # read only: no consent is asked (the inventory, the third parties)
    AGREEMENT = "agreement"  # agreed to before the service handles one's data (terms, privacy)
    SEPARATE = "separate"  # separate consent to ID numbers and health data (PIPL Art. 29)


@dataclass(frozen=True)
class Document:
    name: str  # in URLs (/legal/<name>) and in consents
    version: str
    title_zh: str
    title_en: str
    consent: ConsentUse


DOCUMENTS: dict[str, Document] = {
    d.name: d
    for d in (
        Document(
            "privacy", "2026-12-07.2", "用户隐私保护指引", "Privacy guide", ConsentUse.AGREEMENT
        ),
        Document("terms", "2026-12-07", "用户服务协议", "Terms of service", ConsentUse.AGREEMENT),
        Document(
            "sensitive-data",
            "2026-12-07",
            "敏感个人信息单独同意书",
            "Separate consent to sensitive personal information",
            ConsentUse.SEPARATE,
        ),
        Document(
            "data-inventory",
            "2026-12-07.2",
            "个人信息收集清单",
            "Personal data inventory",
            ConsentUse.NOTICE,
        ),
        Document(
            "third-parties",
            "2026-12-07",
            "第三方共享清单",
            "Third parties we share with",
            ConsentUse.NOTICE,
        ),
    )
}

# Consents a sensitive write (declaring oneself, adding a dependent) needs, at their current
# versions: the terms and the privacy guide, and the separate consent of PIPL Art. 29.
REQUIRED_FOR_SENSITIVE_DATA: tuple[str, ...] = tuple(
    name for name, d in DOCUMENTS.items() if d.consent is not ConsentUse.NOTICE
)
