"""Emulated Alipay open platform: ``POST /gateway.do`` and the phone's side of ``my.*`` APIs.

Requests are RSA2-verified as Alipay does (every parameter but ``sign``, empty ones skipped,
sorted, ``k=v`` joined with ``&``, ``sign_type`` included) with the registered app public key.
Answers are ``{"<method>_response": {...}, "sign": "..."}`` where the signature covers the exact
JSON text of the node, which is what ``DefaultAlipayClient`` verifies. As on the real gateway,
``alipay.system.oauth.token`` reports errors in an ``error_response`` node, and an unknown
app_id gets an unsigned answer. Identity certification (``alipay.user.certify.open.*``) is in
:mod:`channels.emulator.alipay_certify`; its phone side is ``/_emulator/alipay/certify/complete``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from channels.emulator.alipay_certify import certify_initialize, certify_query
from channels.emulator.alipay_gateway import Call, GatewayError, Params
from channels.emulator.config import AlipayApp, EmulatorConfig
from channels.emulator.state import EmulatorState

OAUTH_METHOD = "alipay.system.oauth.token"
USER_INFO_METHOD = "alipay.user.info.share"
MESSAGE_METHOD = "alipay.open.app.mini.templatemessage.send"
CERTIFY_INITIALIZE_METHOD = "alipay.user.certify.open.initialize"
CERTIFY_QUERY_METHOD = "alipay.user.certify.open.query"
LOGIN_CODE = "alipay_login"

ACCESS_TOKEN_TTL = 1_296_000
REFRESH_TOKEN_TTL = 2_592_000

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
TIMESTAMP_TOLERANCE_SECONDS = 15 * 60


# crypto ---------------------------------------------------------------------------------------
def rsa2_sign(key: rsa.RSAPrivateKey, data: bytes) -> str:
    return base64.b64encode(key.sign(data, PKCS1v15(), hashes.SHA256())).decode()


def rsa2_verifies(key: rsa.RSAPublicKey, data: bytes, signature: str) -> bool:
    try:
        key.verify(base64.b64decode(signature, validate=True), data, PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def sign_content(params: Params) -> str:
    """What the app signed: every non-empty parameter but ``sign``, sorted, as ``k=v&...``."""
    return "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "sign" and v != "")


def aes_encrypt(plain: bytes, aes_key_b64: str) -> str:
    """Alipay content encryption: AES-CBC, zero IV, PKCS#7, base64."""
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plain) + padder.finalize()
    key = base64.b64decode(aes_key_b64)
    encryptor = Cipher(algorithms.AES(key), modes.CBC(bytes(16))).encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode()


def phone_response(platform_key: rsa.RSAPrivateKey, app: AlipayApp, phone: str) -> str:
    """The text ``my.getPhoneNumber`` hands the mini-program as ``res.response``.

    The signature covers the ciphertext with its surrounding double quotes, as in Alipay's
    "sensitive data" guide (the raw JSON value, as for gateway answers).
    """
    plain = json.dumps({"code": "10000", "msg": "Success", "mobile": phone}, separators=(",", ":"))
    ciphertext = aes_encrypt(plain.encode(), app.aes_key)
    envelope = {
        "response": ciphertext,
        "sign": rsa2_sign(platform_key, f'"{ciphertext}"'.encode()),
        "sign_type": "RSA2",
        "encrypt_type": "AES",
        "charset": "UTF-8",
    }
    return json.dumps(envelope, separators=(",", ":"))


def answer(
    platform_key: rsa.RSAPrivateKey, name: str, node: Mapping[str, Any], *, signed: bool = True
) -> Response:
    """``{"<node_name>": node, "sign": ...}`` with the signature over the node's exact text."""
    node_text = json.dumps(node, ensure_ascii=False, separators=(",", ":"))
    body = '{"' + name + '":' + node_text
    if signed:
        body += ',"sign":"' + rsa2_sign(platform_key, node_text.encode()) + '"'
    return Response((body + "}").encode(), content_type="application/json;charset=utf-8")


def node_name(method: str) -> str:
    return method.replace(".", "_") + "_response"


def error_node_name(method: str) -> str:
    """Where an error goes: the method's node, but ``error_response`` for oauth and unknowns."""
    return node_name(method) if method in METHODS and method != OAUTH_METHOD else "error_response"


# tokens -----------------------------------------------------------------------------------------
class TokenMint:
    """Stateless, HMAC-sealed access / refresh tokens: nothing to store, nothing to reset."""

    def __init__(self) -> None:
        self._secret = secrets.token_bytes(32)

    def issue(self, kind: str, app_id: str, subject: dict[str, str], ttl: int) -> str:
        body = json.dumps([kind, app_id, subject, int(time.time()) + ttl], separators=(",", ":"))
        payload = base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")
        return f"authusr{payload}.{self._mac(payload)}"

    def read(self, token: str, kind: str, app_id: str) -> dict[str, str] | None:
        """The subject of a valid ``kind`` token of ``app_id``, or None; expired raises 20001."""
        payload, _, mac = token.removeprefix("authusr").partition(".")
        if not hmac.compare_digest(mac.encode(), self._mac(payload).encode()):
            return None
        # Sealed by us, so it decodes; anything else failed the MAC above.
        found_kind, found_app, subject, expires = json.loads(
            base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        )
        if found_kind != kind or found_app != app_id:
            return None
        if expires < time.time():
            raise GatewayError("20001", "aop.auth-token-time-out", "令牌已过期")
        return dict(subject)

    def _mac(self, payload: str) -> str:
        return hmac.new(self._secret, payload.encode(), hashlib.sha256).hexdigest()[:32]


def _subject_fields(subject: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in subject.items() if k in ("user_id", "open_id")}


# the gateway's methods ---------------------------------------------------------------------------
def _oauth_token(call: Call) -> dict[str, Any]:
    state, mint, app_id, params = call.state, call.mint, call.app_id, call.params
    grant_type = params.get("grant_type", "")
    if grant_type == "authorization_code":
        issued = state.take_code(LOGIN_CODE, params.get("code", ""))
        if issued is None or issued.payload.get("app_id") not in (None, app_id):
            raise GatewayError("40002", "isv.code-invalid", "授权码code无效")
        subject = {issued.payload.get("field", "user_id"): issued.subject}
    elif grant_type == "refresh_token":
        found = mint.read(params.get("refresh_token", ""), "refresh", app_id)
        if found is None:
            raise GatewayError("40002", "isv.refresh-token-invalid", "刷新令牌refresh_token无效")
        subject = found
    else:
        raise GatewayError("40002", "isv.grant-type-invalid", "grant_type参数不正确")
    node: dict[str, Any] = {
        "access_token": mint.issue("access", app_id, subject, ACCESS_TOKEN_TTL),
        "auth_start": datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
        "expires_in": ACCESS_TOKEN_TTL,
        "re_expires_in": REFRESH_TOKEN_TTL,
        "refresh_token": mint.issue("refresh", app_id, subject, REFRESH_TOKEN_TTL),
    }
    if "user_id" in subject:
        node["alipay_user_id"] = subject["user_id"]
    node.update(subject)
    return node


def _user_info(call: Call) -> dict[str, Any]:
    subject = call.mint.read(call.params.get("auth_token", ""), "access", call.app_id)
    if subject is None:
        raise GatewayError("20001", "aop.invalid-auth-token", "无效的访问令牌")
    tail = next(iter(subject.values()))[-4:]
    return {
        "code": "10000",
        "msg": "Success",
        **_subject_fields(subject),
        "nick_name": f"用户{tail}",
        "gender": "m",
        "province": "上海",
        "city": "上海市",
    }


def _mini_message(call: Call) -> dict[str, Any]:
    try:
        biz = json.loads(call.params.get("biz_content", ""))
        raw_data = json.loads(biz.get("data", "{}"))
        data = {str(k): str(v["value"]) for k, v in raw_data.items()}
    except (ValueError, AttributeError, KeyError, TypeError):
        raise GatewayError("40002", "isv.invalid-parameter", "malformed biz_content") from None
    recipient = biz.get("to_user_id") or biz.get("to_open_id")
    template_id = biz.get("user_template_id")
    if not recipient or not template_id:
        raise GatewayError("40002", "isv.invalid-parameter", "to_user_id, user_template_id?")
    call.state.record_message(
        {
            "platform": "alipay",
            "app_id": call.app_id,
            "to": recipient,
            "template_id": template_id,
            "data": data,
            "page": biz.get("page"),
            "message_id": secrets.token_hex(8),
        }
    )
    return {"code": "10000", "msg": "Success"}


Method = Callable[[Call], dict[str, Any]]
METHODS: Mapping[str, Method] = {
    OAUTH_METHOD: _oauth_token,
    USER_INFO_METHOD: _user_info,
    MESSAGE_METHOD: _mini_message,
    CERTIFY_INITIALIZE_METHOD: certify_initialize,
    CERTIFY_QUERY_METHOD: certify_query,
}


def _check_request(app_keys: Mapping[str, rsa.RSAPublicKey], params: Params) -> str:
    """Authenticate a gateway call as Alipay does; return its app_id or raise GatewayError."""
    app_id = params.get("app_id", "")
    if not app_id:
        raise GatewayError("40001", "isv.missing-app-id", "缺少AppID参数")
    if app_id not in app_keys:
        raise GatewayError("40002", "isv.invalid-app-id", "无效的AppID参数", signed=False)
    signature = params.get("sign", "")
    if not signature:
        raise GatewayError("40001", "isv.missing-signature", "缺少签名参数")
    if params.get("sign_type", "RSA") != "RSA2":
        raise GatewayError("40002", "isv.missing-signature-config", "未配置对应签名算法的公钥")
    if not rsa2_verifies(app_keys[app_id], sign_content(params).encode(), signature):
        raise GatewayError("40002", "isv.invalid-signature", "验签出错，检查私钥与应用公钥是否匹配")
    try:
        sent = datetime.strptime(params.get("timestamp", ""), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise GatewayError("40002", "isv.invalid-timestamp", "非法的时间戳参数") from None
    # The gateway reads the timestamp as Beijing time; a server on UTC sends one 8 h off.
    beijing_now = datetime.now(BEIJING).replace(tzinfo=None)
    if abs((beijing_now - sent).total_seconds()) > TIMESTAMP_TOLERANCE_SECONDS:
        raise GatewayError("40002", "isv.invalid-timestamp", "时间戳与服务器时间相差过大")
    return app_id


def blueprint(state: EmulatorState, config: EmulatorConfig) -> Blueprint:
    """Build the Alipay gateway and ``/_emulator/alipay`` controls bound to ``state``."""
    bp = Blueprint("emulator_alipay", __name__)
    platform_key = serialization.load_pem_private_key(
        config.alipay_platform_private_key.encode(), password=None
    )
    if not isinstance(platform_key, rsa.RSAPrivateKey):
        raise ValueError("the Alipay platform key must be an RSA key")
    app_keys: dict[str, rsa.RSAPublicKey] = {}
    for app_id, app in config.alipay_apps.items():
        public = serialization.load_pem_public_key(app.app_public_key.encode())
        if not isinstance(public, rsa.RSAPublicKey):
            raise ValueError(f"Alipay app {app_id}: the app public key must be an RSA key")
        app_keys[app_id] = public
    mint = TokenMint()

    @bp.post("/gateway.do")
    def gateway() -> ResponseReturnValue:
        # The SDK puts common parameters in the query string and the rest in the form body.
        params = {**request.args.to_dict(), **request.form.to_dict()}
        method = params.get("method", "")
        try:
            if not method:
                raise GatewayError("40001", "isv.missing-method", "缺少方法名参数")
            _, errcode = state.roll_fault("alipay", method)
            if errcode is not None:
                raise GatewayError.injected(errcode)
            app_id = _check_request(app_keys, params)
            handler = METHODS.get(method)
            if handler is None:
                raise GatewayError("40002", "isv.invalid-method", "不存在的方法名")
            node = handler(Call(state, mint, app_id, params))
        except GatewayError as refusal:
            return answer(
                platform_key, error_node_name(method), refusal.node(), signed=refusal.signed
            )
        return answer(platform_key, node_name(method), node)

    @bp.post("/_emulator/alipay/login")
    def login() -> ResponseReturnValue:
        """What ``my.getAuthCode`` gives the mini-program: a single-use auth code."""
        body = request.get_json(silent=True) or {}
        app_id = body.get("app_id")
        if app_id is not None and app_id not in app_keys:
            return jsonify(error="unknown app_id"), 400
        if body.get("open_id"):
            field, subject = "open_id", str(body["open_id"])
        else:
            field = "user_id"
            subject = str(body.get("user_id") or "2088" + str(secrets.randbelow(10**12)).zfill(12))
        payload: dict[str, Any] = {"field": field}
        if app_id is not None:
            payload["app_id"] = app_id
        code = state.issue_code(LOGIN_CODE, subject, **payload)
        return jsonify({"auth_code": code, field: subject})

    @bp.post("/_emulator/alipay/phone")
    def phone() -> ResponseReturnValue:
        """What ``my.getPhoneNumber`` gives the mini-program as ``res.response``."""
        body = request.get_json(silent=True) or {}
        number = body.get("phone")
        app_id = body.get("app_id")
        if app_id is None and len(config.alipay_apps) == 1:
            app_id = next(iter(config.alipay_apps))
        if not isinstance(number, str) or not number or app_id not in config.alipay_apps:
            return jsonify(error="phone (string) needed; app_id when several apps exist"), 400
        return jsonify(response=phone_response(platform_key, config.alipay_apps[app_id], number))

    @bp.post("/_emulator/alipay/certify/complete")
    def certify_complete() -> ResponseReturnValue:
        """The user did the face check of ``my.startAPVerify`` for ``certify_id`` on the phone.

        The face in front of the camera is ``user_id``'s: the check passes iff that user's real
        identity is the one the certification was started with.
        """
        body = request.get_json(silent=True) or {}
        certify_id, user_id = body.get("certify_id"), body.get("user_id")
        if not isinstance(certify_id, str) or not isinstance(user_id, str) or not user_id:
            return jsonify(error="certify_id and user_id are required"), 400
        found = state.certification(certify_id)
        if found is None:
            return jsonify(error="unknown certify_id"), 404
        passed = state.real_identity("alipay", user_id) == found.claim
        state.finish_certification(certify_id, passed)
        return jsonify(certify_id=certify_id, passed=passed)

    @bp.get("/_emulator/alipay/platform_public_key")
    def platform_public_key() -> ResponseReturnValue:
        pem = platform_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return Response(pem, mimetype="text/plain")

    return bp
