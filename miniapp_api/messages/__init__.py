"""What the API says, in Simplified Chinese (the default) and English (``Accept-Language``).

- :mod:`.catalogue`: every error ``code`` with its HTTP status, the kind of its ``detail`` and
  its message; ``miniapp_api/errors.py`` renders from it, ``miniapp_api/openapi.py`` documents
  it (the enums of codes per status);
- :mod:`.rejections`: the overload contract's reasons and alternatives;
- :mod:`.guidance`: what to do about a result (``guidance_code`` and ``guidance``);
- :mod:`.scans`: the per-item answers of a staff member's scans;
- :mod:`.language`: which of the two a request gets.

Why typed Python tables and not gettext catalogues (Babel): each entry is more than a
translation (its status and ``detail`` kind feed the OpenAPI document), the codes are stable
keys where gettext keys by the English sentence, and two languages need no translator
workflow, plural forms or compiled ``.mo`` files. mypy checks the tables, and
``tests/unit/test_messages.py`` fails on a code without both languages or an entry no code uses.
The client module and the H5 page use the same keys: the codes.

Pure data, below the overload contract that speaks it and the error handler that renders it.
"""

from miniapp_api.messages.catalogue import CATALOGUE, DetailKind, Entry, codes_for, entry
from miniapp_api.messages.guidance import (
    GUIDANCE,
    GUIDANCE_CODES,
    GuidanceCode,
    guidance_code,
    guidance_text,
)
from miniapp_api.messages.language import (
    CONTENT_LANGUAGE,
    DEFAULT,
    LANGUAGES,
    Language,
    Text,
    language_of,
    negotiate,
)
from miniapp_api.messages.scans import SCAN_MESSAGES, scan_message

__all__ = [
    "CATALOGUE",
    "CONTENT_LANGUAGE",
    "DEFAULT",
    "GUIDANCE",
    "GUIDANCE_CODES",
    "LANGUAGES",
    "SCAN_MESSAGES",
    "Text",
    "DetailKind",
    "Entry",
    "GuidanceCode",
    "Language",
    "codes_for",
    "entry",
    "guidance_code",
    "guidance_text",
    "language_of",
    "negotiate",
    "scan_message",
]
