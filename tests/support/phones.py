"""The 'phone' side of the emulated platforms: what wx.login / my.getAuthCode would hand out."""

from __future__ import annotations

from typing import Any

import requests

from tests.support.sensitive import remember


class EmulatorPhone:
    """Drives the emulator's ``/_emulator`` control endpoints over HTTP."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = requests.Session()

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post(f"{self.base_url}{path}", json=body, timeout=5)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def wechat_login(self, openid: str | None = None) -> tuple[str, str]:
        body = self._post("/_emulator/wechat/login", {"openid": openid} if openid else {})
        return body["code"], body["openid"]

    def wechat_phone_code(self, openid: str, phone: str) -> str:
        remember(phone)
        return str(
            self._post("/_emulator/wechat/phone", {"openid": openid, "phone": phone})["code"]
        )

    def wechat_phone_legacy(
        self, openid: str, phone: str, appid: str | None = None
    ) -> dict[str, str]:
        remember(phone)
        body: dict[str, Any] = {"openid": openid, "phone": phone, "legacy": True}
        if appid:
            body["appid"] = appid
        found = self._post("/_emulator/wechat/phone", body)
        return {"encrypted_data": found["encrypted_data"], "iv": found["iv"]}

    def alipay_login(self, user_id: str | None = None) -> tuple[str, str]:
        body = self._post("/_emulator/alipay/login", {"user_id": user_id} if user_id else {})
        return body["auth_code"], body["user_id"]

    def alipay_phone(self, user_id: str, phone: str) -> str:
        remember(phone)
        return str(
            self._post("/_emulator/alipay/phone", {"user_id": user_id, "phone": phone})["response"]
        )

    def fault(self, platform: str, api: str, **fault: Any) -> None:
        self._post("/_emulator/faults", {"platform": platform, "api": api, **fault})

    def expire_codes(self) -> None:
        self._post("/_emulator/expire-codes", {})

    def messages(self) -> list[dict[str, Any]]:
        found = self.http.get(f"{self.base_url}/_emulator/messages", timeout=5).json()
        messages: list[dict[str, Any]] = found["messages"]
        return messages
