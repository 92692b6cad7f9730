"""Emulated Alipay identity certification: ``alipay.user.certify.open.initialize`` / ``.query``.

``initialize`` records the name and ID number to certify; the face check happens on the phone
(``/_emulator/alipay/certify/complete``, see :mod:`channels.emulator.alipay`); ``query`` answers
``passed`` "T" once that check passed, "F" before it or after a failed one, as Alipay does.
"""

from __future__ import annotations

import json
from typing import Any

from channels.emulator.alipay_gateway import Call, GatewayError
from channels.emulator.state import Certification, RealIdentity

BIZ_CODES = frozenset({"FACE", "CERT_PHOTO", "CERT_PHOTO_FACE", "SMART_FACE"})


def _biz_content(call: Call) -> dict[str, Any]:
    try:
        biz = json.loads(call.params.get("biz_content", ""))
    except ValueError:
        raise GatewayError("40002", "isv.invalid-parameter", "malformed biz_content") from None
    if not isinstance(biz, dict):
        raise GatewayError("40002", "isv.invalid-parameter", "malformed biz_content")
    return biz


def _text(node: object, key: str) -> str:
    """A required non-empty string field of a biz_content object, else 40002."""
    value = node.get(key) if isinstance(node, dict) else None
    if not isinstance(value, str) or not value:
        raise GatewayError("40002", "isv.invalid-parameter", f"{key} is required")
    return value


def certify_initialize(call: Call) -> dict[str, Any]:
    """Record a certification of a mainland ID card holder; answer its ``certify_id``."""
    biz = _biz_content(call)
    outer_order_no = _text(biz, "outer_order_no")
    if not (outer_order_no.isascii() and outer_order_no.isalnum() and len(outer_order_no) <= 32):
        raise GatewayError("40002", "isv.invalid-parameter", "outer_order_no: 32 letters/digits")
    if biz.get("biz_code") not in BIZ_CODES:
        raise GatewayError("40002", "isv.invalid-parameter", "biz_code")
    identity = biz.get("identity_param")
    if _text(identity, "identity_type") != "CERT_INFO":
        raise GatewayError("40002", "isv.invalid-parameter", "identity_type must be CERT_INFO")
    if _text(identity, "cert_type") != "IDENTITY_CARD":
        raise GatewayError("40002", "isv.invalid-parameter", "cert_type must be IDENTITY_CARD")
    claim = RealIdentity.of(_text(identity, "cert_name"), _text(identity, "cert_no"))
    _text(biz.get("merchant_config"), "return_url")
    certify_id = call.state.start_certification(Certification(call.app_id, claim, outer_order_no))
    return {"code": "10000", "msg": "Success", "certify_id": certify_id}


def certify_query(call: Call) -> dict[str, Any]:
    """Whether a certification of this app passed; unknown ones are OPEN_CERTIFY_BILL_NOT_EXIST."""
    certify_id = _text(_biz_content(call), "certify_id")
    found = call.state.certification(certify_id)
    if found is None or found.app_id != call.app_id:
        raise GatewayError("40004", "OPEN_CERTIFY_BILL_NOT_EXIST", "无效的certify_id")
    # "F" both before the face check and after a failed one, as on the real platform.
    node: dict[str, Any] = {"code": "10000", "msg": "Success", "passed": "F"}
    if found.passed:
        node["passed"] = "T"
    if found.passed is False:
        node["fail_reason"] = "人脸比对不通过"
    return node
