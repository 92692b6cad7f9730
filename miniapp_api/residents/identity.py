"""ID documents and names: validation per type (GB 11643 for mainland ID cards), the one
normalization of a declared name, and masking for display."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from miniapp_api.errors import ValidationFailed


class IdType(StrEnum):
    CN_ID = "cn_id"
    PASSPORT = "passport"
    HK_MACAU_PERMIT = "hk_macau_permit"
    TAIWAN_PERMIT = "taiwan_permit"


class InvalidIdNumber(ValueError):
    """The ID number does not pass the checks for its type; the message says which one."""


@dataclass(frozen=True)
class IdDocument:
    """A normalized, validated ID. ``birth_date`` is known for mainland ID cards only."""

    id_type: IdType
    number: str
    birth_date: date | None = None

    @property
    def masked(self) -> str:
        return mask_id_number(self.number)

    @property
    def last4(self) -> str:
        return self.number[-4:]


_GB11643_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_GB11643_CHECK = "10X98765432"
_PATTERNS = {
    # Passports: national formats differ; ICAO 9303 allows up to 9 characters, some states use
    # more in practice. Letters and digits only.
    IdType.PASSPORT: re.compile(r"[A-Z0-9]{5,17}"),
    # Mainland travel permit to HK/Macau (C + 8), or the HK/Macau residents' home return permit
    # (H/M + 8 or 10 digits).
    IdType.HK_MACAU_PERMIT: re.compile(r"C[0-9A-Z]\d{7}|[HM]\d{8}(\d{2})?"),
    # Taiwan residents' mainland travel permit: 8 digits (10 on older cards).
    IdType.TAIWAN_PERMIT: re.compile(r"\d{8}(\d{2})?"),
}


def normalize(raw: str) -> str:
    return re.sub(r"[\s-]", "", raw).upper()


def parse_id(id_type: IdType, raw: str, *, today: date | None = None) -> IdDocument:
    """Validate and normalize ``raw`` as an ID of ``id_type`` or raise :class:`InvalidIdNumber`."""
    number = normalize(raw)
    if id_type is IdType.CN_ID:
        return IdDocument(id_type, number, _check_cn_id(number, today or date.today()))
    if not _PATTERNS[id_type].fullmatch(number):
        raise InvalidIdNumber(f"not a valid {id_type.value} number")
    return IdDocument(id_type, number)


def parse_document(id_type: IdType, number: str, today: date) -> IdDocument:
    """:func:`parse_id` for a request: an invalid number is the API's 422, the field named."""
    try:
        return parse_id(id_type, number, today=today)
    except InvalidIdNumber as exc:
        raise ValidationFailed(
            str(exc), code="invalid_id_number", detail=[{"field": "id_number", "problem": str(exc)}]
        ) from None


def _check_cn_id(number: str, today: date) -> date:
    if not re.fullmatch(r"\d{17}[\dX]", number):
        raise InvalidIdNumber("a mainland ID number has 17 digits and a check digit (0-9 or X)")
    if number[:2] in ("00", "99") or number[0] == "0":
        raise InvalidIdNumber("the region code is not valid")
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidIdNumber("the birth date in the ID number is not a date") from None
    if born > today or born.year < 1890:
        raise InvalidIdNumber("the birth date in the ID number is out of range")
    total = sum(int(d) * w for d, w in zip(number[:17], _GB11643_WEIGHTS, strict=True))
    if _GB11643_CHECK[total % 11] != number[17]:
        raise InvalidIdNumber("the check digit does not match (GB 11643)")
    return born


# Before and after normalization: NFKC turns one character into up to 18 (U+FDFA), and the
# stored name and its mask (``name_masked``, String(64)) keep the normalized length.
NAME_MAX_CHARS = 64
# Cc: C0 and C1 controls (tab and newline too). Cf: bidirectional overrides and isolates
# (U+202A-202E, U+2066-2069), zero-width characters, the soft hyphen. Cs: lone surrogates, which
# cannot be encoded. Zl, Zp: line and paragraph separators. Private-use and unassigned code
# points stay allowed: rare characters of names live there in some systems and Unicode versions.
_REFUSED_IN_NAMES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


class InvalidName(ValueError):
    """The name cannot be stored as a name; the message says why."""


def fold_name(raw: str) -> str:
    """NFKC, runs of whitespace as one space, none at either end."""
    return " ".join(unicodedata.normalize("NFKC", raw).split())


def clean_name(raw: str) -> str:
    """The name as it is stored (:func:`fold_name`), or :class:`InvalidName`."""
    normalized = unicodedata.normalize("NFKC", raw)
    # Before the whitespace is folded, which would turn a newline or U+2028 into a space.
    if any(unicodedata.category(c) in _REFUSED_IN_NAMES for c in normalized):
        raise InvalidName("a name cannot contain control, formatting or line-break characters")
    name = " ".join(normalized.split())
    if not 1 <= len(name) <= NAME_MAX_CHARS:
        raise InvalidName(f"a name has 1 to {NAME_MAX_CHARS} characters once normalized (NFKC)")
    return name


def age_on(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def mask_id_number(number: str) -> str:
    """``310***********1234``: the first three and last four characters stay."""
    if len(number) <= 7:
        return "*" * (len(number) - 2) + number[-2:]
    return number[:3] + "*" * (len(number) - 7) + number[-4:]


def mask_phone(phone: str) -> str:
    """``138****5678``."""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 7 else "****"


def mask_name(name: str) -> str:
    """``张*`` for two characters, ``张*明`` for more; Latin names keep the first letter."""
    name = name.strip()
    if len(name) <= 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    if name.isascii():
        return name[0] + "*" * (len(name) - 1)
    return name[0] + "*" * (len(name) - 2) + name[-1]
