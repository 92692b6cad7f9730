"""An in-memory channel for fast service tests: same contract as the real adapters, no HTTP."""

from __future__ import annotations

import re
import secrets
import threading
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

from channels.base import (
    ChannelError,
    InvalidCode,
    InvalidPayload,
    LoginIdentity,
    MessageReceipt,
    Platform,
    RealNameClaim,
    RealNameStart,
    RealNameVerdict,
    SubscriptionRefused,
    VerifiedPhone,
    names_platform,
)
from channels.wechat.realname import REAL_NAME_START

# Alipay's outer_order_no, which the Alipay adapter checks the reference against.
_ALIPAY_REFERENCE = re.compile(r"[A-Za-z0-9]{1,32}")


@dataclass
class FakeChannel:
    """Plays the platform and the phone at once.

    ``issue_login_code`` / ``issue_phone_proof`` stand in for ``wx.login`` / ``getPhoneNumber``;
    ``set_real_identity`` says who a user really is (the platform's real-name record), and
    ``issue_real_name_proof`` what the real-name page hands back; ``fail_next`` makes the next
    call raise, as a throttled or failing platform would.
    """

    platform: Platform
    app_id: str = "fake-app"
    sent: list[dict[str, object]] = field(default_factory=list)
    refused_recipients: set[str] = field(default_factory=set)
    _codes: dict[str, str] = field(default_factory=dict)
    _phone_codes: dict[str, str] = field(default_factory=dict)
    _identities: dict[str, tuple[str, str]] = field(default_factory=dict, repr=False)
    _real_name_codes: dict[str, str] = field(default_factory=dict)  # WeChat: code -> subject
    # Alipay: certify_id -> (claim it was started for, passed: None until the face check)
    _certifications: dict[str, tuple[tuple[str, str], bool | None]] = field(
        default_factory=dict, repr=False
    )
    _failures: list[ChannelError] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # the "phone" side ------------------------------------------------------
    def issue_login_code(self, subject: str | None = None) -> tuple[str, str]:
        """Return ``(code, subject)``; a new subject when none is given."""
        subject = subject or f"{self.platform.value}-user-{secrets.token_hex(6)}"
        code = secrets.token_urlsafe(16)
        with self._lock:
            self._codes[code] = subject
        return code, subject

    def issue_phone_proof(self, subject: str, phone: str) -> dict[str, str]:
        """What ``getPhoneNumber`` would hand the mini-program for this user."""
        code = secrets.token_urlsafe(16)
        with self._lock:
            self._phone_codes[code] = phone
        key = "response" if self.platform is Platform.ALIPAY else "code"
        return {key: code}

    def set_real_identity(self, subject: str, name: str | None, id_number: str | None) -> None:
        """Who ``subject`` really is on the platform; ``None``: never did its real-name check."""
        with self._lock:
            if name is None or id_number is None:
                self._identities.pop(subject, None)
            else:
                self._identities[subject] = _normalized(name, id_number)

    def issue_real_name_proof(self, subject: str, start: RealNameStart) -> dict[str, str]:
        """What the real-name page hands the mini-program after ``subject`` went through it.

        WeChat: a single-use code for that user's consent. Alipay: the certify_id, after the
        face check of ``subject``, which passes iff they are who the certification names.
        """
        if self.platform is Platform.WECHAT:
            code = secrets.token_urlsafe(16)
            with self._lock:
                self._real_name_codes[code] = subject
            return {"code": code}
        certify_id = start.certify_id or ""
        with self._lock:
            if certify_id not in self._certifications:
                raise ValueError("no certification was started with this certify_id")
            claim, _ = self._certifications[certify_id]
            self._certifications[certify_id] = (claim, self._identities.get(subject) == claim)
        return {"certify_id": certify_id}

    def fail_next(self, error: ChannelError) -> None:
        with self._lock:
            self._failures.append(error)

    def _maybe_fail(self) -> None:
        with self._lock:
            error = self._failures.pop(0) if self._failures else None
        if error is not None:
            raise error

    # the LoginChannel contract ----------------------------------------------
    @names_platform
    def exchange_code(self, code: str) -> LoginIdentity:
        self._maybe_fail()
        with self._lock:
            subject = self._codes.pop(code, None)
        if subject is None:
            raise InvalidCode("invalid or used login code", platform_code="fake")
        session_key = secrets.token_hex(8) if self.platform is Platform.WECHAT else None
        return LoginIdentity(self.platform, self.app_id, subject, None, session_key)

    @names_platform
    def verify_phone(self, proof: Mapping[str, str], session_key: str | None) -> VerifiedPhone:
        self._maybe_fail()
        key = "response" if self.platform is Platform.ALIPAY else "code"
        if set(proof) != {key}:
            raise InvalidPayload(f"expected exactly the field {key!r}")
        with self._lock:
            phone = self._phone_codes.pop(proof[key], None)
        if phone is None:
            raise InvalidCode("invalid or used phone proof", platform_code="fake")
        return VerifiedPhone(phone)

    @names_platform
    def send_message(
        self,
        recipient: str,
        template_id: str,
        data: Mapping[str, str],
        page: str | None = None,
    ) -> MessageReceipt:
        self._maybe_fail()
        if recipient in self.refused_recipients:
            raise SubscriptionRefused("user refused the subscription", platform_code=43101)
        message_id = secrets.token_hex(8)
        with self._lock:
            self.sent.append(
                {"to": recipient, "template_id": template_id, "data": dict(data), "page": page}
            )
        return MessageReceipt(self.platform, recipient, message_id)

    @names_platform
    def start_real_name_check(
        self, subject: str, claim: RealNameClaim, reference: str
    ) -> RealNameStart:
        if self.platform is Platform.WECHAT:
            return REAL_NAME_START  # as the adapter: no platform call, so nothing to fail
        # As the adapters: what they check themselves fails before any (failing) platform call.
        if not _ALIPAY_REFERENCE.fullmatch(reference):
            raise ValueError("reference must be 1 to 32 ASCII letters and digits")
        self._maybe_fail()
        certify_id = secrets.token_hex(16)
        with self._lock:
            self._certifications[certify_id] = (_normalized(claim.name, claim.id_number), None)
        return RealNameStart(self.platform, certify_id=certify_id)

    @names_platform
    def check_real_name(
        self, subject: str, claim: RealNameClaim, proof: Mapping[str, str]
    ) -> RealNameVerdict:
        key = "certify_id" if self.platform is Platform.ALIPAY else "code"
        if set(proof) != {key} or not isinstance(proof[key], str) or not proof[key]:
            raise InvalidPayload(f"expected exactly the field {key!r}")
        self._maybe_fail()
        with self._lock:
            if self.platform is Platform.ALIPAY:
                certification = self._certifications.get(proof[key])
                if certification is None:
                    raise InvalidCode("unknown certify_id", platform_code="fake")
                return RealNameVerdict.MATCH if certification[1] else RealNameVerdict.UNVERIFIED
            consented = self._real_name_codes.pop(proof[key], None)
            known = self._identities.get(subject)
        if consented != subject:  # unknown, used, or another user's consent
            raise InvalidCode("invalid or used real-name code", platform_code="fake")
        name, id_number = _normalized(claim.name, claim.id_number)
        if known is None:
            return RealNameVerdict.UNVERIFIED
        if known != (name, id_number):
            return RealNameVerdict.MISMATCH
        return RealNameVerdict.MATCH


def _normalized(name: str, id_number: str) -> tuple[str, str]:
    """A name and ID number as the platforms compare them (NFKC, whitespace, upper-case X)."""
    return (
        " ".join(unicodedata.normalize("NFKC", name).split()),
        "".join(unicodedata.normalize("NFKC", id_number).split()).upper(),
    )
