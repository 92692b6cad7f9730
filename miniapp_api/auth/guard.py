"""The session behind a request's ``Authorization: Bearer`` header."""

from __future__ import annotations

from flask import g, request

from miniapp_api.auth.sessions import (
    PREFETCHED_SESSION,
    PrefetchedSession,
    SessionInfo,
    SessionStore,
)
from miniapp_api.errors import Unauthorized


def bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Log in first: send Authorization: Bearer <token>.")
    return token.strip()


def require_session(sessions: SessionStore) -> SessionInfo:
    """Resolve the caller's session or raise 401. Cached on ``g`` for the request."""
    cached = g.get("session_info")
    if isinstance(cached, SessionInfo):
        return cached
    prefetched = request.environ.get(PREFETCHED_SESSION)  # see overload.admission
    info = sessions.resolve(
        bearer_token(), prefetched if isinstance(prefetched, PrefetchedSession) else None
    )
    if info is None:
        raise Unauthorized("The session has expired or was ended; log in again.")
    g.session_info = info
    return info
