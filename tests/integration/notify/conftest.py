"""Fixtures of the push tests: the app's database and real adapters, notify settings with
templates configured, and the emulator's inspection endpoints."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import pytest
from flask import Flask

from channels.base import LoginChannel, Platform
from miniapp_api.db import Database
from miniapp_api.settings import NotifySettings
from miniapp_api.wiring import EXTENSION_KEY, Wiring
from tests.integration.notify.factories import ALIPAY_TEMPLATE, WECHAT_TEMPLATE
from tests.support.phones import EmulatorPhone

ALIPAY_SEND = "alipay.open.app.mini.templatemessage.send"


@pytest.fixture
def settings() -> NotifySettings:
    return NotifySettings(
        wechat_template_id=WECHAT_TEMPLATE,
        alipay_template_id=ALIPAY_TEMPLATE,
        max_attempts=3,
        backoff_base_seconds=2.0,
        batch_size=10,
    )


@pytest.fixture
def wire(app: Flask, settings: NotifySettings, monkeypatch: pytest.MonkeyPatch) -> Wiring:
    """The app's wiring, with the result templates configured (for the API and the CLI too)."""
    found = app.extensions[EXTENSION_KEY]
    assert isinstance(found, Wiring)
    configured = dataclasses.replace(
        found, settings=dataclasses.replace(found.settings, notify=settings)
    )
    monkeypatch.setitem(app.extensions, EXTENSION_KEY, configured)
    return configured


@pytest.fixture
def db(wire: Wiring) -> Database:
    return wire.db


@pytest.fixture
def channels(wire: Wiring) -> Mapping[Platform, LoginChannel]:
    """The real wechatpy and Alipay SDK adapters, pointed at the emulator."""
    return wire.channels


class EmulatorInbox(EmulatorPhone):
    """The emulator's side of push: messages received, refusals, call counts."""

    def to(self, subject: str) -> list[dict[str, Any]]:
        return [m for m in self.messages() if subject in (m.get("touser"), m.get("to"))]

    def refuse(self, openid: str) -> None:
        self._post("/_emulator/wechat/refuse", {"openid": openid})

    def wechat_sends(self) -> int:
        found = self.http.get(f"{self.base_url}/_emulator/wechat/stats", timeout=5).json()
        return int(found["calls"].get("subscribe_send", 0))

    def clear_fault(self, platform: str, api: str) -> None:
        self._post("/_emulator/faults", {"platform": platform, "api": api})


@pytest.fixture
def inbox(phone: EmulatorPhone) -> EmulatorInbox:
    return EmulatorInbox(phone.base_url)
