"""The platform of the reviewers' sandbox (review mode): no network, nobody real behind it.

Reviewers log in with a name and a password (``POST /api/v1/auth/review``), not with a
platform code, yet the screens they review call the platform for a phone number and a
real-name check. This channel answers those calls for the sandbox only:

* a phone proof of any shape gives :data:`SANDBOX_PHONE`, a number no mobile network issues
  (``100`` is no Chinese mobile prefix), so it can never match a real person's phone;
* the real-name check vouches for whatever the reviewer declared: what a reviewer declares is
  kept in a namespace of its own and is flagged synthetic, so vouching for it reaches nobody;
* messages go nowhere (a receipt without a call);
* a login code is always refused: nobody logs in through this channel.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping

from channels.base import (
    InvalidCode,
    LoginIdentity,
    MessageReceipt,
    Platform,
    RealNameClaim,
    RealNameStart,
    RealNameVerdict,
    VerifiedPhone,
)

SANDBOX_PHONE = "10012345678"


class SandboxChannel:
    """The ``review`` platform: see the module's docstring."""

    @property
    def platform(self) -> Platform:
        return Platform.REVIEW

    @property
    def app_id(self) -> str:
        return Platform.REVIEW.value

    def exchange_code(self, code: str) -> LoginIdentity:
        raise InvalidCode(
            "reviewers log in with POST /api/v1/auth/review", platform=Platform.REVIEW
        )

    def verify_phone(self, proof: Mapping[str, str], session_key: str | None) -> VerifiedPhone:
        return VerifiedPhone(SANDBOX_PHONE)

    def send_message(
        self, recipient: str, template_id: str, data: Mapping[str, str], page: str | None = None
    ) -> MessageReceipt:
        return MessageReceipt(Platform.REVIEW, recipient)

    def start_real_name_check(
        self, subject: str, claim: RealNameClaim, reference: str
    ) -> RealNameStart:
        return RealNameStart(Platform.REVIEW, certify_id=f"sandbox{secrets.token_hex(8)}")

    def check_real_name(
        self, subject: str, claim: RealNameClaim, proof: Mapping[str, str]
    ) -> RealNameVerdict:
        return RealNameVerdict.MATCH
