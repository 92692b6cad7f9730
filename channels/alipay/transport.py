"""The SDK's ``DefaultAlipayClient`` with our own HTTP step, and a logger that cannot leak.

alipay-sdk-python 3.7.1411 posts through ``util.WebUtils.do_post``, whose
``get_http_connection`` drops the port of ``server_url`` (and crashes on an explicit one: it adds
an int to a str) and always dials 80/443, one new connection per call. ``execute`` calls that
module-level function directly, so there is no hook to override: :class:`GatewayClient`
re-implements ``execute`` around the SDK's request preparation (signing) and response parsing
(signature verification), replacing the POST. Nothing in the SDK is patched, so other
clients in the process are unaffected, and each client only ever talks to its own URL.

Signing and verifying go through OpenSSL. The SDK uses the pure-Python ``rsa`` package: about
25 ms per RSA-2048 signature here (that alone capped Alipay logins near 40/s per core, against
~0.4 ms through ``cryptography``), and ~0.3 ms per verified answer, parsing the PEM key each
time, against ~0.03 ms. PKCS#1 v1.5 is deterministic, so :class:`Rsa2Signer` gives the very
bytes ``SignatureUtils.sign_with_rsa2`` would, and :class:`RsaVerifier` accepts exactly what
``verify_with_rsa`` accepts (tests/unit/channels compares both). :meth:`GatewayClient.prepare`
and :meth:`GatewayClient.parse_answer` are the SDK's ``__prepare_request_params`` and
``__parse_response`` with that one step swapped; the SDK still builds the parameters.
"""

from __future__ import annotations

import base64
import datetime
import json
import logging
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

import requests
from alipay.aop.api.AlipayClientConfig import AlipayClientConfig
from alipay.aop.api.constant.CommonConstants import (
    ALIPAY_SDK_PYTHON_VERSION,
    PATTERN_RESPONSE_BEGIN,
    PATTERN_RESPONSE_SIGN_BEGIN,
    THREAD_LOCAL,
)
from alipay.aop.api.constant.ParamConstants import P_BIZ_CONTENT, P_SIGN, P_TIMESTAMP
from alipay.aop.api.DefaultAlipayClient import DefaultAlipayClient
from alipay.aop.api.exception.Exception import ResponseException
from alipay.aop.api.util.SignatureUtils import get_sign_content
from alipay.aop.api.util.WebUtils import url_encode
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

# The DER prefix of a SHA-256 DigestInfo (RFC 8017, section 9.2, note 1), taken from the rsa
# package's table, which the SDK verifies with.
from rsa.pkcs1 import HASH_ASN1

from channels.alipay.errors import SUB_CODES
from channels.alipay.keys import load_public_key
from channels.base import ChannelError, ChannelMisconfigured, ChannelUnavailable

_SHA256_DIGEST_INFO = HASH_ASN1["SHA-256"]
SDK_LOGGER_NAME = "channels.alipay.sdk"
_SDK_LINE = re.compile(r"^\[(?P<uuid>[0-9a-fA-F-]{1,64})\](?P<kind>request|response)")


class SdkLog:
    """The ``logger`` we give the SDK.

    The SDK logs every request URL (auth codes, tokens, signatures) and every raw response
    (access tokens) at INFO. This keeps only the SDK's per-call uuid and the direction, at DEBUG,
    on the ``channels.alipay.sdk`` logger; the SDK text itself never reaches a handler.
    """

    def __init__(self) -> None:
        self._log = logging.getLogger(SDK_LOGGER_NAME)

    def _redacted(self, msg: object) -> None:
        match = _SDK_LINE.match(str(msg))
        if match:
            self._log.debug("alipay sdk %s [%s]", match["kind"], match["uuid"])
        else:
            self._log.debug("alipay sdk message (content withheld)")

    def debug(self, msg: object, *args: object, **kwargs: object) -> None:
        self._redacted(msg)

    def info(self, msg: object, *args: object, **kwargs: object) -> None:
        self._redacted(msg)

    def warning(self, msg: object, *args: object, **kwargs: object) -> None:
        self._redacted(msg)

    def error(self, msg: object, *args: object, **kwargs: object) -> None:
        self._redacted(msg)


def check_gateway_url(url: str) -> str:
    """Return ``url`` if it is an absolute http(s) URL without query or fragment."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ChannelMisconfigured("alipay gateway URL must be an absolute http(s) URL")
    if parts.query or parts.fragment:
        raise ChannelMisconfigured("alipay gateway URL must not carry a query or fragment")
    try:
        port = parts.port  # raises ValueError on a malformed or out-of-range port
    except ValueError:
        port = 0
    if port == 0:
        raise ChannelMisconfigured("alipay gateway URL has an invalid port")
    return url


def _unverified_answer(raw: bytes, api: str) -> ChannelError:
    """Why an answer failed the SDK's signature check.

    Alipay leaves some refusals unsigned (``isv.invalid-app-id``): when the body is such a
    refusal naming one of our own configuration errors, say so; anything else is an answer we
    cannot trust. Nothing of an unverified body is ever returned to callers.
    """
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if isinstance(body, dict) and "sign" not in body:
        for key, node in body.items():
            if key.endswith("_response") and isinstance(node, dict):
                sub_code = node.get("sub_code")
                if isinstance(sub_code, str) and SUB_CODES.get(sub_code) is ChannelMisconfigured:
                    return ChannelMisconfigured(
                        f"alipay {api} refused our app: {sub_code}", platform_code=sub_code
                    )
    return ChannelUnavailable(f"alipay {api} answer failed signature verification")


class Rsa2Signer:
    """Alipay's RSA2: PKCS#1 v1.5 over SHA-256 of the sign content, base64; through OpenSSL."""

    def __init__(self, key: rsa.RSAPrivateKey, charset: str) -> None:
        self._key = key
        self._charset = charset

    def sign(self, content: str) -> str:
        signature = self._key.sign(
            content.encode(self._charset), padding.PKCS1v15(), hashes.SHA256()
        )
        return base64.b64encode(signature).decode("ascii")


class RsaVerifier:
    """``SignatureUtils.verify_with_rsa`` through OpenSSL, with Alipay's key parsed once.

    RSA2 only: a PKCS#1 v1.5 signature over SHA-256, the one scheme the gateway signs with for
    an RSA2 app. The SDK's ``rsa.verify`` takes whichever hash the signature names (MD5 to
    SHA3-512), so it would accept an answer signed over MD5 or SHA-1, whose collisions are
    practical; this refuses those, and accepts everything else the SDK accepts.
    """

    def __init__(self, key: rsa.RSAPublicKey) -> None:
        self._key = key
        self._size = (key.key_size + 7) // 8

    def verify(self, content: bytes, sign: str) -> bool:
        try:
            # Not validate=True: the SDK's b64decode skips characters outside the alphabet.
            signature = base64.b64decode(sign)
        except ValueError:
            return False
        if len(signature) != self._size:
            return False  # rsa.verify's check; OpenSSL's recovery would take shorter ones
        try:
            digest_info = self._key.recover_data_from_signature(signature, padding.PKCS1v15(), None)
        except InvalidSignature:
            return False
        # OpenSSL strips the padding and hands back the DigestInfo, which must be SHA-256's.
        digest = hashes.Hash(hashes.SHA256())
        digest.update(content)
        return digest_info == _SHA256_DIGEST_INFO + digest.finalize()


def _private_key(pem: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ChannelMisconfigured("alipay app private key is not an RSA key")
    return key


# The SDK is untyped (``Any`` to mypy); subclassing it is the point of this module.
class GatewayClient(DefaultAlipayClient):  # type: ignore[misc]
    """A ``DefaultAlipayClient`` that posts to the configured host *and port*.

    ``execute`` keeps the SDK's signing (``__prepare_request``) and verification
    (``__parse_response``, over the raw text of the ``*_response`` node), both through OpenSSL,
    and raises only :class:`channels.base.ChannelError` subclasses. Thread-safe: the SDK keeps
    per-call state in a thread-local, and ``requests.Session`` pools connections across threads.
    """

    def __init__(self, config: AlipayClientConfig, session: requests.Session) -> None:
        self._sdk_log = SdkLog()
        super().__init__(config, logger=self._sdk_log)
        self._url = check_gateway_url(config.server_url)
        self._charset: str = config.charset
        self._timeout: float = config.timeout
        self._session = session
        if config.sign_type != "RSA2" or config.skip_sign or config.encrypt_type:
            raise ChannelMisconfigured("alipay: only RSA2-signed, unencrypted requests are sent")
        self._signer = Rsa2Signer(_private_key(config.app_private_key), self._charset)
        # PEM or the bare base64 body, as verify_with_rsa takes it; unlike the SDK (which
        # parses it for every answer) a key that does not load fails here, at start-up.
        self._verifier = RsaVerifier(load_public_key(config.alipay_public_key))

    @property
    def url(self) -> str:
        return self._url

    def execute(self, request: Any) -> str:
        """Sign and send ``request``; return the verified ``*_response`` node as JSON text."""
        api = str(request.get_params().get("method", "?"))
        if request.get_multipart_params():
            raise ChannelMisconfigured(f"alipay {api}: file uploads are not supported here")
        THREAD_LOCAL.uuid = str(uuid.uuid1())
        query_string, params = self.prepare(request, api)
        raw = self._post(api, query_string, params)
        try:
            return self.parse_answer(raw)
        except (ResponseException, UnicodeError):
            # Bad or missing signature, odd shape, not in our charset: the answer cannot be
            # trusted. ``from None``: a UnicodeError carries the whole answer (access tokens),
            # which must not ride along in a logged traceback.
            raise _unverified_answer(raw, api) from None

    def prepare(self, request: Any, api: str) -> tuple[str, dict[str, Any]]:
        """The signed query string (the common parameters) and the business parameters of
        ``request``: the SDK's ``__prepare_request`` (alipay-sdk-python==3.7.1411, name-mangled
        internals pinned by version), signed by :class:`Rsa2Signer` instead of ``rsa``."""
        params = request.get_params()
        if P_BIZ_CONTENT in params and request.need_encrypt:
            raise ChannelMisconfigured(f"alipay {api}: needs content encryption, not set up here")
        # Local time, as the SDK stamps it: the gateway reads it as Beijing time (adapter.py
        # warns at start-up when the process zone is not UTC+8).
        params[P_TIMESTAMP] = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        common = self._DefaultAlipayClient__get_common_params(params)
        try:
            common[P_SIGN] = self._signer.sign(get_sign_content({**params, **common}))
        except (ValueError, TypeError):
            # Never about the network; the message could quote what was being signed.
            raise ChannelMisconfigured(f"alipay {api}: request could not be signed") from None
        self._DefaultAlipayClient__remove_common_params(params)
        # The SDK logs the signed URL here; SdkLog keeps only the call's uuid and direction.
        self._sdk_log.info(f"[{THREAD_LOCAL.uuid}]request")
        return url_encode(common, self._charset), params

    def parse_answer(self, raw: bytes) -> str:
        """The verified ``*_response`` node of the gateway's answer ``raw``, as JSON text.

        The SDK's ``__parse_response`` (alipay-sdk-python==3.7.1411) for signed, unencrypted
        answers, verified by :class:`RsaVerifier` instead of ``rsa``. The signed content is the
        raw text from the ``{`` of the first ``"<name>_response":`` (any name, ``error_response``
        too) to the ``}`` of the *last* ``}, "sign": "``; the sign runs to the next quote.
        Raises what the SDK raises: ``UnicodeDecodeError`` if ``raw`` is not in our charset,
        ``ResponseException`` for any other refusal (without the SDK's copy of the answer).
        """
        text = raw.decode(self._charset)
        # The SDK logs the whole answer here; SdkLog keeps only the call's uuid and direction.
        self._sdk_log.info(f"[{THREAD_LOCAL.uuid}]response")
        begin = PATTERN_RESPONSE_BEGIN.search(text)
        # The SDK's loop of searches, each from the end of the previous match; it keeps the last.
        signs = list(PATTERN_RESPONSE_SIGN_BEGIN.finditer(text))
        if begin is None or not signs:
            raise ResponseException("response shape maybe illegal")
        sign_begin = signs[-1]
        content = text[begin.end() - 1 : sign_begin.start() + 1].encode(self._charset)
        sign = text[sign_begin.end() : text.find('"', sign_begin.end())]
        if not self._verifier.verify(content, sign):
            raise ResponseException("response sign verify failed")
        return content.decode(self._charset)

    def _post(self, api: str, query_string: str, params: dict[str, Any]) -> bytes:
        headers = {
            "Content-type": f"application/x-www-form-urlencoded;charset={self._charset}",
            "Cache-Control": "no-cache",
            "User-Agent": ALIPAY_SDK_PYTHON_VERSION,
            "log-uuid": THREAD_LOCAL.uuid,
        }
        body = url_encode(params, self._charset).encode(self._charset) if params else None
        try:
            response = self._session.post(
                f"{self._url}?{query_string}",
                data=body,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            # Only the exception type: its text can include the URL, whose query is signed data.
            raise ChannelUnavailable(
                f"alipay {api}: gateway unreachable ({type(exc).__name__})"
            ) from None
        if response.status_code != 200:
            raise ChannelUnavailable(f"alipay {api}: gateway answered HTTP {response.status_code}")
        return bytes(response.content)
