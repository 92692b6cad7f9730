"""In-memory state of the platform emulator: issued codes, injected faults, sent messages,
who the platform users really are, and identity certifications under way."""

from __future__ import annotations

import base64
import random
import secrets
import threading
import time
import unicodedata
from dataclasses import dataclass, field, replace
from typing import Any


@dataclass
class Fault:
    """An injected fault for one platform API: extra latency and/or an error at some rate."""

    latency_ms: int = 0
    errcode: str | int | None = None
    rate: float = 1.0


@dataclass
class IssuedCode:
    """A single-use code handed to the 'phone' by a control endpoint."""

    subject: str
    expires_at: float
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RealIdentity:
    """Who a platform user really is (their real-name record). ``repr`` shows neither field."""

    name: str = field(repr=False)
    id_number: str = field(repr=False)

    @classmethod
    def of(cls, name: str, id_number: str) -> RealIdentity:
        """Compared as the platforms compare: NFKC, whitespace collapsed; ID numbers uppercased."""
        return cls(
            " ".join(unicodedata.normalize("NFKC", name).split()),
            "".join(unicodedata.normalize("NFKC", id_number).split()).upper(),
        )


@dataclass
class Certification:
    """One Alipay identity certification (``alipay.user.certify.open.initialize``).

    ``passed`` is None until the user did the face check on the phone.
    """

    app_id: str
    claim: RealIdentity
    outer_order_no: str
    passed: bool | None = None


class EmulatorState:
    """Thread-safe store shared by the emulator's blueprints.

    Codes are single use: :meth:`take_code` removes the code whether it is still valid or
    not, the way the platforms answer a second use of a code with "invalid code".
    """

    def __init__(self, code_ttl_seconds: float = 300.0, clock: Any = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.code_ttl_seconds = code_ttl_seconds
        self._codes: dict[tuple[str, str], IssuedCode] = {}
        self._faults: dict[tuple[str, str], Fault] = {}
        self._messages: list[dict[str, Any]] = []
        self._sessions: dict[str, str] = {}
        self._issued_session_keys: set[str] = set()  # wechat openid -> session_key
        self._tokens: dict[str, tuple[str, float]] = {}  # access token -> (app id, expiry)
        # (platform, openid or user_id) -> real-name record; absent means not real-name verified
        self._identities: dict[tuple[str, str], RealIdentity] = {}
        self._certifications: dict[str, Certification] = {}  # alipay certify_id -> record

    # codes -----------------------------------------------------------------
    def issue_code(self, kind: str, subject: str, **payload: Any) -> str:
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[(kind, code)] = IssuedCode(
                subject, self._clock() + self.code_ttl_seconds, dict(payload)
            )
        return code

    def take_code(self, kind: str, code: str) -> IssuedCode | None:
        """Return the code's record once; None if unknown, used or expired."""
        with self._lock:
            issued = self._codes.pop((kind, code), None)
        if issued is None or issued.expires_at < self._clock():
            return None
        return issued

    def expire_codes(self) -> None:
        """Make every outstanding code expired (tests of the expiry path)."""
        with self._lock:
            for issued in self._codes.values():
                issued.expires_at = self._clock() - 1

    # wechat session keys and access tokens ----------------------------------
    def session_key_for(self, openid: str) -> str:
        """The openid's current session_key: base64 of 16 random bytes, as WeChat's is."""
        with self._lock:
            key = self._sessions.setdefault(
                openid, base64.b64encode(secrets.token_bytes(16)).decode()
            )
            self._issued_session_keys.add(key)
            return key

    def issued_session_keys(self) -> set[str]:
        """Every session_key handed out since start (kept across resets, for leak checks)."""
        with self._lock:
            return set(self._issued_session_keys)

    def rotate_session_key(self, openid: str, session_key: str) -> None:
        with self._lock:
            self._sessions[openid] = session_key
            self._issued_session_keys.add(session_key)

    def new_access_token(self, app_id: str, ttl: float = 7200.0) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            # A fresh token voids the app's previous ones, as the real /cgi-bin/token does.
            self._tokens = {t: v for t, v in self._tokens.items() if v[0] != app_id}
            self._tokens[token] = (app_id, self._clock() + ttl)
        return token

    def access_token_app(self, token: str) -> str | None:
        with self._lock:
            entry = self._tokens.get(token)
        if entry is None or entry[1] < self._clock():
            return None
        return entry[0]

    def expire_access_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    # real names ----------------------------------------------------------------
    def set_real_identity(self, platform: str, subject: str, identity: RealIdentity | None) -> None:
        """Record who ``subject`` really is on ``platform``; None: not real-name verified."""
        with self._lock:
            if identity is None:
                self._identities.pop((platform, subject), None)
            else:
                self._identities[(platform, subject)] = identity

    def real_identity(self, platform: str, subject: str) -> RealIdentity | None:
        with self._lock:
            return self._identities.get((platform, subject))

    def start_certification(self, certification: Certification) -> str:
        """Store a new certification; return its certify_id (32 characters, as Alipay's)."""
        certify_id = secrets.token_hex(16)
        with self._lock:
            self._certifications[certify_id] = certification
        return certify_id

    def certification(self, certify_id: str) -> Certification | None:
        """A copy of the certification's record (the stored one changes under the lock)."""
        with self._lock:
            found = self._certifications.get(certify_id)
            return None if found is None else replace(found)

    def finish_certification(self, certify_id: str, passed: bool) -> bool:
        """The face check on the phone is over; False if there is no such certification."""
        with self._lock:
            found = self._certifications.get(certify_id)
            if found is None:
                return False
            found.passed = passed
            return True

    # faults ------------------------------------------------------------------
    def set_fault(self, platform: str, api: str, fault: Fault) -> None:
        with self._lock:
            self._faults[(platform, api)] = fault

    def fault_for(self, platform: str, api: str) -> Fault | None:
        with self._lock:
            return self._faults.get((platform, api)) or self._faults.get((platform, "*"))

    def roll_fault(self, platform: str, api: str) -> tuple[float, str | int | None]:
        """Apply an injected fault: returns (seconds slept, errcode to answer or None)."""
        fault = self.fault_for(platform, api)
        if fault is None:
            return 0.0, None
        delay = fault.latency_ms / 1000.0
        if delay:
            time.sleep(delay)
        if fault.errcode is not None and random.random() < fault.rate:
            return delay, fault.errcode
        return delay, None

    # messages ----------------------------------------------------------------
    def record_message(self, message: dict[str, Any]) -> None:
        with self._lock:
            self._messages.append(message)

    def messages(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._messages)

    def reset(self) -> None:
        with self._lock:
            self._codes.clear()
            self._faults.clear()
            self._messages.clear()
            self._sessions.clear()
            self._tokens.clear()
            self._identities.clear()
            self._certifications.clear()
