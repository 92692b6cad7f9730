"""Emulated WeChat server APIs, same paths, JSON shapes and errcodes as the real ones.

Platform endpoints: ``/sns/jscode2session``, ``/cgi-bin/token``, ``/cgi-bin/stable_token``,
``/wxa/business/getuserphonenumber``, ``/cgi-bin/message/subscribe/send``,
``/intp/realname/checkrealnameinfo``. Control endpoints under ``/_emulator/wechat`` play the phone
(``wx.login``, ``getPhoneNumber``, the city service's real-name consent page) and expose call
counts; who a user really is is set through ``/_emulator/wechat/users/<openid>/real-name``.
Like the real API, every answer is HTTP 200 and errors are ``{"errcode", "errmsg"}``.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections import Counter
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from channels.emulator.config import EmulatorConfig
from channels.emulator.state import EmulatorState, RealIdentity

LOGIN_CODE = "wechat_login"
PHONE_CODE = "wechat_phone"
REAL_NAME_CODE = "wechat_real_name"
ID_CARD = "1"  # checkrealnameinfo's cred_type for a mainland ID card, the only one it takes
# subscribeMessage.send: the builds a message may open (released, trial, developer).
MINIPROGRAM_STATES = frozenset({"formal", "trial", "developer"})

ERRMSG = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40013: "invalid appid",
    40029: "invalid code",
    40125: "invalid appsecret",
    40163: "code been used",
    41002: "appid missing",
    41004: "appsecret missing",
    41008: "missing code",
    42001: "access_token expired",
    43101: "user refuse to accept the msg",
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit  mustslower  retry next minute",
    47001: "data format error",
    47003: "argument invalid!",
}


def error(errcode: int, errmsg: str | None = None) -> Response:
    """A WeChat error answer: HTTP 200 with ``errcode`` and ``errmsg``."""
    return jsonify(errcode=errcode, errmsg=errmsg or ERRMSG.get(errcode, "emulated error"))


def fault_response(errcode: str | int) -> Response:
    """Answer an injected fault: a numeric errcode as JSON, ``"http_503"`` as a bare HTTP status."""
    text = str(errcode)
    if text.startswith("http_") and text[5:].isdigit():
        return Response("emulated HTTP fault", status=int(text[5:]), mimetype="text/plain")
    try:
        return error(int(text))
    except ValueError:
        return error(-1)


def encrypt_user_data(session_key: str, payload: dict[str, Any]) -> tuple[str, str]:
    """What ``getPhoneNumber`` (legacy) hands the mini-program: AES-128-CBC, PKCS#7, base64."""
    iv = secrets.token_bytes(16)
    padder = padding.PKCS7(128).padder()
    plain = padder.update(json.dumps(payload).encode()) + padder.finalize()
    encryptor = Cipher(algorithms.AES(base64.b64decode(session_key)), modes.CBC(iv)).encryptor()
    encrypted = encryptor.update(plain) + encryptor.finalize()
    return base64.b64encode(encrypted).decode(), base64.b64encode(iv).decode()


def verdict(known: RealIdentity | None, claim: RealIdentity) -> dict[str, str]:
    """checkrealnameinfo's answer fields for ``claim``, about a user WeChat knows as ``known``."""
    if known is None:
        return {"verify_openid": "V_OP_NA"}  # no real name on WeChat
    if known.name != claim.name:
        return {"verify_openid": "V_OP_NM_UM"}
    same_id = known.id_number == claim.id_number
    return {
        "verify_openid": "V_OP_NM_MA",
        "verify_real_name": "V_NM_ID_MA" if same_id else "V_NM_ID_UM",
    }


def new_openid() -> str:
    """A random openid of the real shape (28 characters, starting with ``o``)."""
    return "o" + secrets.token_urlsafe(20)[:27]


def blueprint(state: EmulatorState, config: EmulatorConfig) -> Blueprint:
    """Build the WeChat blueprint (platform and control endpoints) bound to ``state``."""
    bp = Blueprint("emulator_wechat", __name__)
    lock = threading.Lock()
    # Kept here rather than in EmulatorState: /_emulator/reset does not clear them. Call counts
    # only grow (tests compare before/after), and refused openids are random per test.
    calls: Counter[str] = Counter()
    refused: set[str] = set()
    openid_app: dict[str, str] = {}  # which app last exchanged a login code for an openid

    def enter(api: str) -> Response | None:
        """Count the call and apply an injected fault; return the fault's answer, if any."""
        with lock:
            calls[api] += 1
        _, errcode = state.roll_fault("wechat", api)
        return None if errcode is None else fault_response(errcode)

    def check_app(appid: str | None, secret: str | None) -> Response | None:
        if not appid:
            return error(41002)
        if not secret:
            return error(41004)
        if appid not in config.wechat_apps:
            return error(40013)
        if not secrets.compare_digest(config.wechat_apps[appid], secret):
            return error(40125)
        return None

    def token_app() -> tuple[str | None, Response | None]:
        """The app id of the request's ``access_token``, or the 40001 answer."""
        app_id = state.access_token_app(request.args.get("access_token", ""))
        return (app_id, None) if app_id is not None else (None, error(40001))

    def issue_token(app_id: str) -> Response:
        return jsonify(access_token=state.new_access_token(app_id), expires_in=7200)

    # platform endpoints --------------------------------------------------------
    # JSON bodies are read with force=True: WeChat ignores Content-Type, and wechatpy sends
    # its JSON bodies without one.
    @bp.get("/sns/jscode2session")
    def jscode2session() -> ResponseReturnValue:
        if (faulted := enter("jscode2session")) is not None:
            return faulted
        args = request.args
        if (bad := check_app(args.get("appid"), args.get("secret"))) is not None:
            return bad
        if args.get("grant_type") != "authorization_code":
            return error(40002)
        if not args.get("js_code"):
            return error(41008)
        issued = state.take_code(LOGIN_CODE, args["js_code"])
        if issued is None:
            return error(40029)
        with lock:
            openid_app[issued.subject] = args["appid"]
        answer = {"openid": issued.subject, "session_key": state.session_key_for(issued.subject)}
        if issued.payload.get("unionid"):
            answer["unionid"] = issued.payload["unionid"]
        return jsonify(answer)

    @bp.get("/cgi-bin/token")
    def token() -> ResponseReturnValue:
        if (faulted := enter("token")) is not None:
            return faulted
        args = request.args
        if args.get("grant_type") != "client_credential":
            return error(40002)
        if (bad := check_app(args.get("appid"), args.get("secret"))) is not None:
            return bad
        return issue_token(args["appid"])

    @bp.post("/cgi-bin/stable_token")
    def stable_token() -> ResponseReturnValue:
        # The real one returns the still-valid token unless force_refresh; the emulator always
        # issues a new one (voiding the old), which is the harder case for callers.
        if (faulted := enter("stable_token")) is not None:
            return faulted
        body = request.get_json(force=True, silent=True)
        if not isinstance(body, dict):
            return error(47001)
        if body.get("grant_type") != "client_credential":
            return error(40002)
        if (bad := check_app(body.get("appid"), body.get("secret"))) is not None:
            return bad
        return issue_token(body["appid"])

    @bp.post("/wxa/business/getuserphonenumber")
    def getuserphonenumber() -> ResponseReturnValue:
        if (faulted := enter("getuserphonenumber")) is not None:
            return faulted
        app_id, bad = token_app()
        if bad is not None:
            return bad
        body = request.get_json(force=True, silent=True)
        if not isinstance(body, dict):
            return error(47001)
        code = body.get("code")
        if not isinstance(code, str) or not code:
            return error(41008)
        issued = state.take_code(PHONE_CODE, code)
        if issued is None:
            return error(40029)
        phone, country_code = issued.payload["phone"], issued.payload["country_code"]
        return jsonify(
            errcode=0,
            errmsg="ok",
            phone_info={
                "phoneNumber": phone if country_code == "86" else f"+{country_code} {phone}",
                "purePhoneNumber": phone,
                "countryCode": country_code,
                "watermark": {"timestamp": int(time.time()), "appid": app_id},
            },
        )

    @bp.post("/cgi-bin/message/subscribe/send")
    def subscribe_send() -> ResponseReturnValue:
        if (faulted := enter("subscribe_send")) is not None:
            return faulted
        app_id, bad = token_app()
        if bad is not None:
            return bad
        body = request.get_json(force=True, silent=True)
        if not isinstance(body, dict):
            return error(47001)
        touser, template_id, data = body.get("touser"), body.get("template_id"), body.get("data")
        if not isinstance(touser, str) or not touser or not isinstance(template_id, str):
            return error(47003, "argument invalid! touser or template_id")
        if not isinstance(data, dict) or not all(
            isinstance(v, dict) and "value" in v for v in data.values()
        ):
            return error(47003, "argument invalid! data.value")
        # WeChat's default is the released build; anything but its three builds is refused.
        miniprogram_state = body.get("miniprogram_state", "formal")
        if miniprogram_state not in MINIPROGRAM_STATES:
            return error(47003, "argument invalid! miniprogram_state")
        with lock:
            is_refused = touser in refused
        if is_refused:
            return error(43101)
        msgid = secrets.randbelow(10**15)
        state.record_message(
            {
                "platform": "wechat",
                "app_id": app_id,
                "recipient": touser,
                "touser": touser,
                "template_id": template_id,
                "page": body.get("page"),
                "data": data,
                "miniprogram_state": miniprogram_state,
                "msgid": msgid,
            }
        )
        return jsonify(errcode=0, errmsg="ok", msgid=msgid)

    @bp.post("/intp/realname/checkrealnameinfo")
    def checkrealnameinfo() -> ResponseReturnValue:
        if (faulted := enter("checkrealnameinfo")) is not None:
            return faulted
        _, bad = token_app()
        if bad is not None:
            return bad
        body = request.get_json(force=True, silent=True)
        if not isinstance(body, dict):
            return error(47001)
        openid, code = body.get("openid"), body.get("code")
        real_name, cred_id = body.get("real_name"), body.get("cred_id")
        if not isinstance(code, str) or not code:
            return error(41008)
        if not isinstance(openid, str) or not isinstance(real_name, str):
            return error(47001)
        if not isinstance(cred_id, str) or not openid or not real_name or not cred_id:
            return error(47001)
        if body.get("cred_type") != ID_CARD:
            return error(47003, "argument invalid! cred_type")
        issued = state.take_code(REAL_NAME_CODE, code)
        # The code is the user's consent for this openid only: another openid's is no code.
        if issued is None or issued.subject != openid:
            return error(40029)
        return jsonify(
            errcode=0,
            errmsg="ok",
            **verdict(state.real_identity("wechat", openid), RealIdentity.of(real_name, cred_id)),
        )

    # control endpoints (the phone, and what tests inspect) ---------------------
    @bp.post("/_emulator/wechat/login")
    def control_login() -> ResponseReturnValue:
        body = request.get_json(silent=True) or {}
        openid = body.get("openid") or new_openid()
        code = state.issue_code(LOGIN_CODE, openid, unionid=body.get("unionid"))
        return jsonify(code=code, openid=openid)

    @bp.post("/_emulator/wechat/phone")
    def control_phone() -> ResponseReturnValue:
        body = request.get_json(silent=True) or {}
        openid, phone = body.get("openid"), body.get("phone")
        if not isinstance(openid, str) or not isinstance(phone, str) or not openid or not phone:
            return jsonify(error="openid and phone are required"), 400
        country_code = str(body.get("country_code", "86"))
        if not body.get("legacy"):
            code = state.issue_code(PHONE_CODE, openid, phone=phone, country_code=country_code)
            return jsonify(code=code)
        with lock:
            app_id = body.get("appid") or openid_app.get(openid)
        if not app_id and len(config.wechat_apps) == 1:
            app_id = next(iter(config.wechat_apps))
        if not app_id:
            return jsonify(error="appid is required when several apps are registered"), 400
        payload = {
            "phoneNumber": phone if country_code == "86" else f"+{country_code} {phone}",
            "purePhoneNumber": phone,
            "countryCode": country_code,
            "watermark": {"appid": app_id, "timestamp": int(time.time())},
        }
        encrypted_data, iv = encrypt_user_data(state.session_key_for(openid), payload)
        return jsonify(encrypted_data=encrypted_data, iv=iv)

    @bp.post("/_emulator/wechat/real-name-code")
    def control_real_name_code() -> ResponseReturnValue:
        """The user agreed on the city service's real-name page: ``extraData.code``."""
        body = request.get_json(silent=True) or {}
        openid = body.get("openid")
        if not isinstance(openid, str) or not openid:
            return jsonify(error="openid is required"), 400
        return jsonify(code=state.issue_code(REAL_NAME_CODE, openid))

    @bp.post("/_emulator/wechat/refuse")
    def control_refuse() -> ResponseReturnValue:
        body = request.get_json(silent=True) or {}
        openid = body.get("openid")
        if not isinstance(openid, str) or not openid:
            return jsonify(error="openid is required"), 400
        with lock:
            refused.add(openid)
        return jsonify(openid=openid, refused=True)

    @bp.get("/_emulator/wechat/stats")
    def control_stats() -> ResponseReturnValue:
        with lock:
            return jsonify(calls=dict(calls))

    return bp
