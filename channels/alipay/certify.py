"""Alipay identity certification (``alipay.user.certify.open.*``): requests and verdicts.

``initialize`` registers the name and ID number to certify and answers a ``certify_id``; the
mini-program runs the face check with ``my.startAPVerify({certifyId})``; ``query`` then says
``passed`` "T" or "F". "F" covers both a failed and an unfinished check: Alipay does not tell a
mismatch from a user who gave up, so "F" is :attr:`RealNameVerdict.UNVERIFIED`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from alipay.aop.api.domain.AlipayUserCertifyOpenInitializeModel import (
    AlipayUserCertifyOpenInitializeModel,
)
from alipay.aop.api.domain.AlipayUserCertifyOpenQueryModel import AlipayUserCertifyOpenQueryModel
from alipay.aop.api.request.AlipayUserCertifyOpenInitializeRequest import (
    AlipayUserCertifyOpenInitializeRequest,
)
from alipay.aop.api.request.AlipayUserCertifyOpenQueryRequest import (
    AlipayUserCertifyOpenQueryRequest,
)

from channels.base import ChannelUnavailable, InvalidPayload, RealNameClaim, RealNameVerdict

BIZ_CODE = "FACE"  # face against the authority's photo of the ID card holder
# Where Alipay's verification page returns to: our own mini-program (its launch scheme). The
# mini-program's my.startAPVerify callback fires first; this is only the page's fallback.
RETURN_URL = "alipays://platformapi/startapp?appId={app_id}"
# outer_order_no: "32 letters and digits", unique per request (ours: the caller's reference)
_REFERENCE = re.compile(r"[A-Za-z0-9]{1,32}")
_PROOF = frozenset({"certify_id"})


def initialize_request(
    app_id: str, claim: RealNameClaim, reference: str
) -> AlipayUserCertifyOpenInitializeRequest:
    """``alipay.user.certify.open.initialize`` for a mainland ID card holder, face check."""
    if not _REFERENCE.fullmatch(reference):
        # The caller's bug, not the platform's answer: say so before anything leaves.
        raise ValueError("reference must be 1 to 32 ASCII letters and digits")
    model = AlipayUserCertifyOpenInitializeModel()
    model.outer_order_no = reference
    model.biz_code = BIZ_CODE
    model.identity_param = {
        "identity_type": "CERT_INFO",
        "cert_type": "IDENTITY_CARD",
        "cert_name": claim.name,
        "cert_no": claim.id_number,
    }
    model.merchant_config = {"return_url": RETURN_URL.format(app_id=app_id)}
    return AlipayUserCertifyOpenInitializeRequest(biz_model=model)


def query_request(proof: Mapping[str, str]) -> AlipayUserCertifyOpenQueryRequest:
    """``alipay.user.certify.open.query`` for a ``{"certify_id"}`` proof."""
    certify_id = proof["certify_id"] if frozenset(proof) == _PROOF else None
    if not isinstance(certify_id, str) or not certify_id:
        raise InvalidPayload('expected exactly {"certify_id"}, a non-empty string')
    model = AlipayUserCertifyOpenQueryModel()
    model.certify_id = certify_id
    return AlipayUserCertifyOpenQueryRequest(biz_model=model)


def certify_id_from(certify_id: Any) -> str:
    """The ``certify_id`` of a successful ``initialize`` answer."""
    if not isinstance(certify_id, str) or not certify_id:
        raise ChannelUnavailable("alipay certify initialize answered without certify_id")
    return certify_id


def verdict_from(passed: Any) -> RealNameVerdict:
    """``passed`` of a successful ``query`` answer: "T" is a match, "F" is not verified."""
    if passed == "T":
        return RealNameVerdict.MATCH
    if passed == "F":
        return RealNameVerdict.UNVERIFIED
    raise ChannelUnavailable(f"alipay certify query answered passed={str(passed)[:8]!r}")
