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

    def set_real_identity(self, platform: str, subject: str, name: str, id_number: str) -> None:
        """Who the platform knows the user ``subject`` really is (its real-name record)."""
        remember(id_number)
        response = self.http.put(
            f"{self.base_url}/_emulator/{platform}/users/{subject}/real-name",
            json={"name": name, "id_number": id_number},
            timeout=5,
        )
        response.raise_for_status()

    def wechat_real_name_code(self, openid: str) -> str:
        """The user agreed on the city service's real-name page: the ``extraData.code``."""
        return str(self._post("/_emulator/wechat/real-name-code", {"openid": openid})["code"])

    def alipay_face_check(self, certify_id: str, user_id: str) -> bool:
        """``user_id``'s face in front of the phone for ``my.startAPVerify(certify_id)``."""
        body = {"certify_id": certify_id, "user_id": user_id}
        return bool(self._post("/_emulator/alipay/certify/complete", body)["passed"])

    def fault(self, platform: str, api: str, **fault: Any) -> None:
        self._post("/_emulator/faults", {"platform": platform, "api": api, **fault})

    def expire_codes(self) -> None:
        self._post("/_emulator/expire-codes", {})

    def messages(self) -> list[dict[str, Any]]:
        found = self.http.get(f"{self.base_url}/_emulator/messages", timeout=5).json()
        messages: list[dict[str, Any]] = found["messages"]
        return messages
