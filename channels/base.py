"""The one interface between the app and the login platforms.

Adapters (``channels.wechat``, ``channels.alipay``, ``channels.fake``) implement
:class:`LoginChannel`; they return frozen dataclasses and raise :class:`ChannelError`
subclasses, never ``(False, "message")`` pairs. Nothing here imports Flask.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Concatenate, ParamSpec, Protocol, TypeVar, runtime_checkable


class Platform(StrEnum):
    """The platforms a resident can log in from."""

    WECHAT = "wechat"
    ALIPAY = "alipay"
    REVIEW = "review"  # the reviewers' sandbox (channels/sandbox.py): review mode only


@dataclass(frozen=True)
class LoginIdentity:
    """What a platform says about a login code, exchanged on the server only.

    ``subject`` is the openid (WeChat) or the user_id / open_id (Alipay).
    ``session_key`` is secret: it is kept out of ``repr`` so it never lands in a log.
    """

    platform: Platform
    app_id: str
    subject: str
    unionid: str | None = None
    session_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class VerifiedPhone:
    """A phone number the platform vouches for. ``repr`` shows it masked."""

    phone: str = field(repr=False)
    country_code: str = "86"

    @property
    def masked(self) -> str:
        return self.phone[:3] + "****" + self.phone[-4:] if len(self.phone) >= 7 else "****"

    def __repr__(self) -> str:
        return f"VerifiedPhone(phone={self.masked!r}, country_code={self.country_code!r})"


@dataclass(frozen=True)
class MessageReceipt:
    """A platform accepted a push message."""

    platform: Platform
    recipient: str
    message_id: str | None = None


class RealNameVerdict(StrEnum):
    """What a platform's real-name check said about a name and ID number."""

    MATCH = "match"  # the platform vouches: this is the real person behind the login
    MISMATCH = "mismatch"  # the platform knows the login's real name, and it is not this
    UNVERIFIED = "unverified"  # no real name on the platform, or the user did not finish


@dataclass(frozen=True)
class RealNameClaim:
    """A name and mainland ID number to put to a platform's real-name check.

    Both platforms check mainland resident ID cards only. ``repr`` shows neither in full.
    """

    name: str = field(repr=False)
    id_number: str = field(repr=False)

    def __repr__(self) -> str:
        return f"RealNameClaim(id_number='{self.id_number[:3]}***{self.id_number[-4:]}')"


@dataclass(frozen=True)
class RealNameStart:
    """What the mini-program needs to take the user through the platform's real-name page.

    WeChat: navigate to the city service's consent page (``mini_program_app_id`` and
    ``mini_program_path``); it comes back with a ``code`` in ``extraData``. Alipay: call
    ``my.startAPVerify`` with ``certify_id`` (valid 23 hours); the proof is that id.
    """

    platform: Platform
    certify_id: str | None = None
    mini_program_app_id: str | None = None
    mini_program_path: str | None = None


class ChannelError(Exception):
    """Base of everything an adapter raises.

    ``platform_code`` is the platform's own error code (e.g. ``40029``, ``isv.code-invalid``)
    for logs and error details; it is never a secret. ``platform`` names the platform that
    failed: every adapter call sets it (:func:`names_platform`), so whoever answers the error
    (the app's one error handler) needs nothing else to say which platform is in trouble.
    """

    def __init__(
        self,
        message: str,
        *,
        platform_code: str | int | None = None,
        platform: Platform | None = None,
    ) -> None:
        super().__init__(message)
        self.platform_code = platform_code
        self.platform = platform


class InvalidCode(ChannelError):
    """The login or phone code is unknown, used or expired (WeChat 40029, isv.code-invalid)."""


class InvalidPayload(ChannelError):
    """What the mini-program handed over does not verify or decrypt (signature, wrong appid)."""


class RateLimited(ChannelError):
    """The platform throttles us (WeChat 45011, Alipay 20000 / ACQ...); try again later."""

    def __init__(
        self,
        message: str,
        *,
        platform_code: str | int | None = None,
        retry_after: float = 1.0,
    ) -> None:
        super().__init__(message, platform_code=platform_code)
        self.retry_after = retry_after


class ChannelUnavailable(ChannelError):
    """The platform failed (system busy -1, 5xx, timeout, unreadable answer)."""


class SubscriptionRefused(ChannelError):
    """The user has not accepted, or has spent, the subscription (WeChat 43101). Never retried."""


class ChannelMisconfigured(ChannelError):
    """Our credentials or keys are wrong (WeChat 40013/40125, Alipay isv.invalid-app-id)."""


class _OfPlatform(Protocol):
    @property
    def platform(self) -> Platform: ...


A = TypeVar("A", bound=_OfPlatform)
P = ParamSpec("P")
R = TypeVar("R")


def names_platform(call: Callable[Concatenate[A, P], R]) -> Callable[Concatenate[A, P], R]:
    """For an adapter's public methods: a :class:`ChannelError` leaving one carries the
    adapter's platform (the raise sites deep inside need not know it)."""

    @functools.wraps(call)
    def named(adapter: A, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return call(adapter, *args, **kwargs)
        except ChannelError as error:
            if error.platform is None:
                error.platform = adapter.platform
            raise

    return named


@runtime_checkable
class LoginChannel(Protocol):
    """A platform adapter, as services see it."""

    @property
    def platform(self) -> Platform: ...

    @property
    def app_id(self) -> str: ...

    def exchange_code(self, code: str) -> LoginIdentity:
        """Trade a login code (``wx.login`` code, ``my.getAuthCode`` auth code) for an identity."""
        ...

    def verify_phone(self, proof: Mapping[str, str], session_key: str | None) -> VerifiedPhone:
        """Turn what ``getPhoneNumber`` gave the mini-program into a verified phone number.

        WeChat takes ``{"code"}`` (new flow) or ``{"encrypted_data", "iv"}`` (legacy, needs the
        session_key); Alipay takes ``{"response"}``. A proof of the wrong shape is
        :class:`InvalidPayload`.
        """
        ...

    def send_message(
        self,
        recipient: str,
        template_id: str,
        data: Mapping[str, str],
        page: str | None = None,
    ) -> MessageReceipt:
        """Send one subscribe / subscription message to ``recipient`` (openid or user_id)."""
        ...

    def start_real_name_check(
        self, subject: str, claim: RealNameClaim, reference: str
    ) -> RealNameStart:
        """Prepare the platform's real-name check of ``claim`` for the login ``subject``.

        WeChat needs no call (the answer names the city service's consent page); Alipay calls
        ``alipay.user.certify.open.initialize`` (``reference`` is its ``outer_order_no``: ours,
        unique, at most 32 letters and digits) and answers the ``certify_id``.
        """
        ...

    def check_real_name(
        self, subject: str, claim: RealNameClaim, proof: Mapping[str, str]
    ) -> RealNameVerdict:
        """Ask the platform whether ``claim`` is the real person behind ``subject``.

        WeChat takes ``{"code"}`` (from the consent page) and calls ``checkrealnameinfo``;
        Alipay takes ``{"certify_id"}`` and calls ``alipay.user.certify.open.query`` (the caller
        must make sure that certify_id was started for this very claim and login). A used or
        unknown code is :class:`InvalidCode`; a proof of the wrong shape :class:`InvalidPayload`.
        """
        ...
