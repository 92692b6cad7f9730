"""The vocabulary of the data inventory: categories, legal bases, recipients, protections.

Plain frozen dataclasses and enums, importing nothing of the app, so the legal pages and the
tests can read the inventory without building one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class Text:
    """One sentence in both languages of the legal pages."""

    zh: str
    en: str


class Category(StrEnum):
    IDENTITY = "identity"  # name, birth date
    ID_DOCUMENT = "id_document"  # ID number and its type: sensitive (PIPL Art. 28)
    CONTACT = "contact"  # phone numbers
    HEALTH = "health"  # results: sensitive (medical health)
    LOCATION_TIME = "location_time"  # where and when someone was sampled (whereabouts)
    PLATFORM_ID = "platform_id"  # openid, unionid, Alipay user id, session_key
    SERVICE_ID = "service_id"  # our own pseudonymous ids of a person or login
    RELATIONSHIP = "relationship"  # who holds whose record, and why
    CONSENT = "consent"  # consents given, as the law asks us to prove
    ACTIVITY = "activity"  # when a login or record was made, used, notified
    CREDENTIAL = "credential"  # staff passwords
    NETWORK = "network"  # a client's IP address or network


class Sensitive(StrEnum):
    """Why an entry is sensitive personal information (PIPL Art. 28)."""

    ID_NUMBER = "id_number"  # specific identity
    HEALTH = "health"  # medical health
    WHEREABOUTS = "whereabouts"  # 行踪轨迹
    MINOR = "minor"  # may be a child under 14: residents include dependants of any age


class Basis(StrEnum):
    """Legal bases of PIPL Art. 13 (and the consents Arts. 29 and 31 add to the first)."""

    CONSENT = "consent"
    SEPARATE_CONSENT = "separate_consent"
    GUARDIAN_CONSENT = "guardian_consent"
    CONTRACT = "contract"
    HR_MANAGEMENT = "hr_management"
    LEGAL_DUTY = "legal_duty"
    PUBLIC_HEALTH = "public_health"


BASIS_TEXT: dict[Basis, Text] = {
    Basis.CONSENT: Text(
        "个人同意（《个人信息保护法》第十三条第一项）", "Consent (PIPL Art. 13(1))"
    ),
    Basis.SEPARATE_CONSENT: Text(
        "单独同意（第十三条第一项、第二十九条）",
        "Separate consent to sensitive data (PIPL Arts. 13(1) and 29)",
    ),
    Basis.GUARDIAN_CONSENT: Text(
        "监护人同意（第十三条第一项、第三十一条）",
        "A guardian's consent for a child under 14 (PIPL Arts. 13(1) and 31)",
    ),
    Basis.CONTRACT: Text(
        "订立、履行个人作为一方当事人的合同所必需（第十三条第二项）",
        "Necessary to perform the user agreement (PIPL Art. 13(2))",
    ),
    Basis.HR_MANAGEMENT: Text(
        "实施人力资源管理所必需（第十三条第二项）",
        "Necessary for human resources management (PIPL Art. 13(2))",
    ),
    Basis.LEGAL_DUTY: Text(
        "履行法定职责或者法定义务所必需（第十三条第三项）",
        "Necessary to fulfil a legal duty or obligation (PIPL Art. 13(3))",
    ),
    Basis.PUBLIC_HEALTH: Text(
        "为应对突发公共卫生事件所必需（第十三条第四项）",
        "Necessary to respond to a public health emergency (PIPL Art. 13(4))",
    ),
}


class Recipient(StrEnum):
    """Who, besides the service itself, receives an entry."""

    WECHAT = "wechat"
    ALIPAY = "alipay"
    LABS = "labs"
    SAMPLING_STAFF = "sampling_staff"
    OPERATORS = "operators"


class Protection(StrEnum):
    ENCRYPTED = "encrypted"  # AES-GCM with the data key (security/crypto.py)
    BLIND_INDEX = "blind_index"  # HMAC with the index key: findable, not readable
    HASHED = "hashed"  # a one-way hash (SHA-256, argon2)
    MASKED = "masked"  # a display copy, most characters replaced
    PLAIN = "plain"


@dataclass(frozen=True)
class Personal:
    """An entry holding personal information, with everything the legal pages state of it."""

    category: Category
    purpose: Text
    bases: tuple[Basis, ...]
    retention: Text
    recipients: frozenset[Recipient]
    protection: Protection
    sensitive: frozenset[Sensitive] = frozenset()

    @property
    def is_sensitive(self) -> bool:
        return bool(self.sensitive)


@dataclass(frozen=True)
class NotPersonal:
    """An entry holding no personal information, and why not."""

    reason: str


Use = Personal | NotPersonal
