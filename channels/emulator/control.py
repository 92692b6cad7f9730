"""Platform-independent control endpoints: faults, sent messages, users' real names, reset."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from channels.emulator.state import EmulatorState, Fault, RealIdentity

PLATFORMS = ("wechat", "alipay")


def blueprint(state: EmulatorState) -> Blueprint:
    """Build the ``/_emulator`` blueprint bound to ``state``."""
    bp = Blueprint("emulator_control", __name__, url_prefix="/_emulator")

    @bp.post("/faults")
    def set_fault() -> ResponseReturnValue:
        body = request.get_json(silent=True) or {}
        platform, api = body.get("platform"), body.get("api", "*")
        if platform not in PLATFORMS or not isinstance(api, str):
            return jsonify(error="platform must be wechat or alipay; api a string"), 400
        rate = float(body.get("rate", 1.0))
        fault = Fault(int(body.get("latency_ms", 0)), body.get("errcode"), rate)
        state.set_fault(platform, api, fault)
        return jsonify(platform=platform, api=api, **fault.__dict__)

    @bp.route("/<platform>/users/<subject>/real-name", methods=["PUT", "DELETE"])
    def real_name(platform: str, subject: str) -> ResponseReturnValue:
        """Who the openid / user_id really is: ``{"name", "id_number"}``; DELETE or ``null``:
        the user never did the platform's real-name verification."""
        if platform not in PLATFORMS:
            return jsonify(error="platform must be wechat or alipay"), 404
        if request.method == "DELETE" or request.get_data().strip() == b"null":
            state.set_real_identity(platform, subject, None)
            return jsonify(platform=platform, subject=subject, verified=False)
        body = request.get_json(force=True, silent=True)
        name = body.get("name") if isinstance(body, dict) else None
        id_number = body.get("id_number") if isinstance(body, dict) else None
        if not isinstance(name, str) or not isinstance(id_number, str) or not name or not id_number:
            return jsonify(error='expected {"name", "id_number"} (strings) or null'), 400
        state.set_real_identity(platform, subject, RealIdentity.of(name, id_number))
        # Never echoes the name or ID number: control answers end up in test and browser logs.
        return jsonify(platform=platform, subject=subject, verified=True)

    @bp.get("/messages")
    def messages() -> ResponseReturnValue:
        return jsonify(messages=state.messages())

    @bp.post("/reset")
    def reset() -> ResponseReturnValue:
        state.reset()
        return jsonify(ok=True)

    @bp.post("/expire-codes")
    def expire_codes() -> ResponseReturnValue:
        state.expire_codes()
        return jsonify(ok=True)

    @bp.post("/expire-tokens")
    def expire_tokens() -> ResponseReturnValue:
        state.expire_access_tokens()
        return jsonify(ok=True)

    return bp
