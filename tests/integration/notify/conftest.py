"""Fixtures of the push tests: the app's database and real adapters, notify settings with
templates configured, a push worker on them, the outbox it reads, and the emulator's inspection
endpoints.

A module whose messages go to Alipay overrides ``platform``; one on another database or other
channels overrides ``db``, ``channels`` or ``settings``, and ``worker`` and ``outbox`` follow."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from channels.base import LoginChannel, Platform
from miniapp_api.db import Database, utcnow
from miniapp_api.notify.models import Subscription
from miniapp_api.notify.worker import PushWorker, Stats
from miniapp_api.results.models import OutboxMessage
from miniapp_api.settings import NotifySettings
from miniapp_api.wiring import EXTENSION_KEY, Wiring
from tests.conftest import PlatformKeys
from tests.support.factories import (
    ALIPAY_TEMPLATE,
    WECHAT_TEMPLATE,
    Queued,
    queue_message,
    template_for,
)
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


@pytest.fixture
def worker(
    db: Database, channels: Mapping[Platform, LoginChannel], settings: NotifySettings
) -> PushWorker:
    """A push worker on ``db`` and ``channels``; ``worker.run_once(now)`` runs one batch."""
    return PushWorker(db, channels, settings)


@pytest.fixture
def platform() -> str:
    """Where a test's messages go unless it says otherwise."""
    return "wechat"


@pytest.fixture
def app_ids(platform_keys: PlatformKeys) -> dict[str, str]:
    """Our mini-program on each platform."""
    return {"wechat": platform_keys.wechat_app_id, "alipay": platform_keys.alipay_app_id}


@dataclass
class Outbox:
    """The outbox rows of the worker: queue a message, run a batch, read a row back."""

    db: Database
    worker: PushWorker
    platform: str
    app_ids: Mapping[str, str]

    def queue(
        self,
        accepts: int = 1,
        *,
        platform: str | None = None,
        account_id: int | None = None,
        state: str = "negative",
    ) -> Queued:
        """A due message to a new account (on ``platform``) with ``accepts`` acceptances of
        the platform's template, or to the account ``account_id``."""
        on = platform or self.platform
        return queue_message(
            self.db, on, self.app_ids[on], accepts=accepts, account_id=account_id, state=state
        )

    def push(self, accepts: int = 1) -> tuple[Queued, Stats]:
        """Queue a message, then run one batch now."""
        queued = self.queue(accepts)
        return queued, self.worker.run_once(utcnow())

    def row(self, queued: Queued) -> OutboxMessage:
        with self.db.session() as session:
            return session.get_one(OutboxMessage, queued.outbox_id)

    def remaining(self, queued: Queued) -> int | None:
        """Acceptances the recipient has left for its platform's result template."""
        with self.db.session() as session:
            return session.scalar(
                select(Subscription.remaining).where(
                    Subscription.account_id == queued.account_id,
                    Subscription.template_id == template_for(queued.platform),
                )
            )


@pytest.fixture
def outbox(db: Database, worker: PushWorker, platform: str, app_ids: dict[str, str]) -> Outbox:
    return Outbox(db, worker, platform, app_ids)


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
