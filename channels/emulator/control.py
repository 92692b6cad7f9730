"""Platform-independent control endpoints: faults, sent messages, reset."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from channels.emulator.state import EmulatorState, Fault

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
