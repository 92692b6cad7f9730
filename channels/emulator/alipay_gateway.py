"""What every emulated Alipay gateway method sees (``Call``) and raises (``GatewayError``).

Apart from :mod:`channels.emulator.alipay` so that method handlers can live in modules of their
own (:mod:`channels.emulator.alipay_certify`) without importing the blueprint.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from channels.emulator.state import EmulatorState

if TYPE_CHECKING:
    from channels.emulator.alipay import TokenMint

Params = Mapping[str, str]

GATEWAY_MSGS = {
    "10000": "Success",
    "20000": "Service Currently Unavailable",
    "20001": "Insufficient Token Permissions",
    "40001": "Missing Required Arguments",
    "40002": "Invalid Arguments",
    "40004": "Business Failed",
    "40006": "Insufficient Permissions",
}
DEFAULT_SUB_CODES = {
    "20000": "isp.unknow-error",  # sic: Alipay's spelling
    "20001": "aop.invalid-auth-token",
    "40001": "isv.missing-parameter",
    "40002": "isv.invalid-parameter",
    "40004": "biz.failed",
    "40006": "isv.insufficient-isv-permissions",
}


class GatewayError(Exception):
    """An Alipay error answer: gateway ``code``, ``sub_code``, and whether it is signed."""

    def __init__(self, code: str, sub_code: str, sub_msg: str = "", *, signed: bool = True) -> None:
        super().__init__(sub_code)
        self.code, self.sub_code, self.sub_msg, self.signed = code, sub_code, sub_msg, signed

    @classmethod
    def injected(cls, errcode: str | int) -> GatewayError:
        """The answer for a fault's errcode: a gateway code, or a sub_code by its family."""
        text = str(errcode)
        if text.isdigit():
            return cls(text, DEFAULT_SUB_CODES.get(text, "isp.unknow-error"), "injected fault")
        family = {"isv": "40002", "aop": "20001", "isp": "20000"}.get(text.split(".")[0], "40004")
        return cls(family, text, "injected fault")

    def node(self) -> dict[str, str]:
        return {
            "code": self.code,
            "msg": GATEWAY_MSGS.get(self.code, "Business Failed"),
            "sub_code": self.sub_code,
            "sub_msg": self.sub_msg,
        }


@dataclass(frozen=True)
class Call:
    """One authenticated gateway call, as the method handlers see it."""

    state: EmulatorState
    mint: TokenMint
    app_id: str
    params: Params
