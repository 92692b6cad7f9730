"""The per-app objects views and the gate need, built once in ``create_app``.

They live in ``app.extensions[EXTENSION_KEY]`` and are found by that name (:func:`wiring` in a
view, :func:`wiring_of` with the app at hand), never by walking middleware layers. Services
never reach for them: views hand each service what it needs as arguments.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import redis
from flask import Flask, current_app

from channels.base import LoginChannel, Platform
from channels.sandbox import SandboxChannel
from miniapp_api.accountview import AccountViews
from miniapp_api.db import Database
from miniapp_api.errors import NotFound
from miniapp_api.overload.controls import ControlsCache, default_controls
from miniapp_api.overload.renderer import RejectionRenderer
from miniapp_api.overload.waiting_room import WaitingRoom, ticket_key
from miniapp_api.readmodel import ResultReadModel
from miniapp_api.security.crypto import PersonalDataCrypto
from miniapp_api.sessions import SessionStore
from miniapp_api.settings import Settings

EXTENSION_KEY = "miniapp"
SANDBOX = SandboxChannel()  # stateless: one for every app


@dataclass(frozen=True)
class Wiring:
    settings: Settings
    db: Database
    redis: redis.Redis
    crypto: PersonalDataCrypto
    sessions: SessionStore  # residents' sessions
    channels: Mapping[Platform, LoginChannel]
    readmodel: ResultReadModel  # the Redis read model of results
    views: AccountViews  # accounts' hot screens, ready to send
    controls: ControlsCache  # this worker's copy of the run-time limits and modes
    rejections: RejectionRenderer  # the overload contract as this deployment answers it
    waiting_room: WaitingRoom  # queue tickets for profile writes

    def channel(self, platform: Platform | str) -> LoginChannel:
        """The channel of a session's platform; the sandbox's only in review mode."""
        if platform == Platform.REVIEW and self.settings.review.enabled:
            return SANDBOX
        found = self.channels.get(Platform(platform))
        if found is None:
            raise NotFound(f"Login with {platform} is not enabled here.", code="channel_disabled")
        return found


def build_wiring(
    settings: Settings, client: redis.Redis, channels: Mapping[Platform, LoginChannel]
) -> Wiring:
    """Every per-app object, from the validated settings. No I/O: connections open lazily."""
    controls = ControlsCache(
        default_controls(settings.overload), settings.overload.controls_refresh_seconds
    )
    return Wiring(
        settings=settings,
        db=Database(settings.database_url, pool_size=settings.database_pool_size),
        redis=client,
        crypto=PersonalDataCrypto(settings.data_keys, settings.index_keys),
        sessions=SessionStore(client, settings.session_ttl_seconds),
        channels=dict(channels),
        readmodel=ResultReadModel(client),
        views=AccountViews(client),
        controls=controls,
        rejections=RejectionRenderer(
            platforms=tuple(str(p) for p in channels),
            lookup_url=f"{settings.public_base_url}/lookup",
            controls=controls,
            client=client,
        ),
        waiting_room=WaitingRoom(
            client,
            ticket_key(settings.index_keys.current_key),
            also_accepted=[
                ticket_key(settings.index_keys.keys[k]) for k in settings.index_keys.others()
            ],
        ),
    )


def wiring_of(app: Flask) -> Wiring:
    found = app.extensions[EXTENSION_KEY]
    assert isinstance(found, Wiring)
    return found


def wiring() -> Wiring:
    """The current app's wiring (for views and commands; services get arguments)."""
    return wiring_of(current_app)
