"""The city service's real-name check: its consent page, and ``checkrealnameinfo``'s answer.

The mini-program navigates to the city service (``wx.navigateToMiniProgram``); when the user
agrees there, it comes back with ``extraData.code``, which the server hands to
``POST /intp/realname/checkrealnameinfo`` with the openid, name and ID number to check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from channels.base import (
    ChannelUnavailable,
    Platform,
    RealNameClaim,
    RealNameStart,
    RealNameVerdict,
)

CITY_SERVICE_APP_ID = "wx308bd2aeb83d3345"
CITY_SERVICE_REAL_NAME_PATH = "subPages/city/wxpay-auth/main"
CHECK_PATH = "intp/realname/checkrealnameinfo"
ID_CARD = "1"  # cred_type of a mainland resident ID card, the only one the check takes

REAL_NAME_START = RealNameStart(
    Platform.WECHAT,
    mini_program_app_id=CITY_SERVICE_APP_ID,
    mini_program_path=CITY_SERVICE_REAL_NAME_PATH,
)

# verify_openid: whether the openid has a real name on WeChat and whether it is this name
OPENID_NO_REAL_NAME = "V_OP_NA"
OPENID_NAME_MATCHES = "V_OP_NM_MA"
OPENID_NAME_DIFFERS = "V_OP_NM_UM"
# verify_real_name (only with OPENID_NAME_MATCHES): whether the ID number is that name's
ID_NUMBER_MATCHES = "V_NM_ID_MA"
ID_NUMBER_DIFFERS = "V_NM_ID_UM"


def check_body(openid: str, claim: RealNameClaim, code: str) -> dict[str, str]:
    """The JSON body of ``checkrealnameinfo``."""
    return {
        "openid": openid,
        "real_name": claim.name,
        "cred_id": claim.id_number,
        "cred_type": ID_CARD,
        "code": code,
    }


def verdict_from(answer: Mapping[str, Any]) -> RealNameVerdict:
    """Read a successful ``checkrealnameinfo`` answer; anything unforeseen is unavailable.

    ``verify_openid`` may join several values with ``;``: a name match decides over the rest.
    """
    raw = answer.get("verify_openid")
    openid_says = set(raw.split(";")) if isinstance(raw, str) else set()
    if OPENID_NAME_MATCHES in openid_says:
        id_says = answer.get("verify_real_name")
        if id_says == ID_NUMBER_MATCHES:
            return RealNameVerdict.MATCH
        if id_says == ID_NUMBER_DIFFERS:
            return RealNameVerdict.MISMATCH
    elif OPENID_NAME_DIFFERS in openid_says:
        return RealNameVerdict.MISMATCH
    elif OPENID_NO_REAL_NAME in openid_says:
        return RealNameVerdict.UNVERIFIED
    # Only the codes go into the message: the answer carries nothing personal, but keep it so.
    raise ChannelUnavailable(
        f"wechat checkrealnameinfo answered an unknown verdict {str(raw)[:40]!r}"
        f"/{str(answer.get('verify_real_name'))[:20]!r}"
    )
