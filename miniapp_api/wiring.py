"""The per-app objects views need, built once in ``create_app`` and kept in ``app.extensions``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import redis
from flask import current_app

from channels.base import LoginChannel, Platform
from miniapp_api.auth.sessions import SessionStore
from miniapp_api.db import Database
from miniapp_api.errors import NotFound
from miniapp_api.security.crypto import PersonalDataCrypto
from miniapp_api.settings import Settings

EXTENSION_KEY = "miniapp"


@dataclass(frozen=True)
class Wiring:
    settings: Settings
    db: Database
    redis: redis.Redis
    crypto: PersonalDataCrypto
    sessions: SessionStore
    channels: Mapping[Platform, LoginChannel]

    def channel(self, platform: Platform | str) -> LoginChannel:
        found = self.channels.get(Platform(platform))
        if found is None:
            raise NotFound(f"Login with {platform} is not enabled here.", code="channel_disabled")
        return found


def wiring() -> Wiring:
    """The current app's wiring (for views only; services get what they need as arguments)."""
    found = current_app.extensions[EXTENSION_KEY]
    assert isinstance(found, Wiring)
    return found
