"""An in-memory channel for fast service tests: same contract as the real adapters, no HTTP."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from channels.base import (
    ChannelError,
    InvalidCode,
    InvalidPayload,
    LoginIdentity,
    MessageReceipt,
    Platform,
    SubscriptionRefused,
    VerifiedPhone,
    names_platform,
)


@dataclass
class FakeChannel:
    """Plays the platform and the phone at once.

    ``issue_login_code`` / ``issue_phone_proof`` stand in for ``wx.login`` / ``getPhoneNumber``;
    ``fail_next`` makes the next call raise, as a throttled or failing platform would.
    """

    platform: Platform
    app_id: str = "fake-app"
    sent: list[dict[str, object]] = field(default_factory=list)
    refused_recipients: set[str] = field(default_factory=set)
    _codes: dict[str, str] = field(default_factory=dict)
    _phone_codes: dict[str, str] = field(default_factory=dict)
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
