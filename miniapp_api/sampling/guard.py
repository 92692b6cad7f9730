"""The staff session behind a request's ``Authorization: Bearer`` header.

Staff sessions live in their own Redis namespace, so a resident's token never opens a staff
route and a staff token never opens a resident's.
"""

from __future__ import annotations

import redis
from flask import g

from miniapp_api.errors import Unauthorized
from miniapp_api.sampling.staff import STAFF_PLATFORM
from miniapp_api.sessions import SessionStore, bearer_token, prefetched_session

STAFF_NAMESPACE = "staff"
# One shift. Scans taken offline stay safe across a re-login: receipts are per staff member.
STAFF_SESSION_TTL_SECONDS = 12 * 3600


def staff_sessions(client: redis.Redis) -> SessionStore:
    return SessionStore(client, STAFF_SESSION_TTL_SECONDS, namespace=STAFF_NAMESPACE)


def require_staff(sessions: SessionStore) -> int:
    """The caller's staff id, or 401. Cached on ``g`` for the request.

    The id only says who logged in; services load the staff row and refuse inactive staff.
    """
    cached = g.get("staff_id")
    if isinstance(cached, int):
        return cached
    # The gate has read the staff session already (admission/routes.py, STAFF_BLUEPRINTS).
    info = sessions.resolve(bearer_token(), prefetched_session())
    if info is None or info.platform != STAFF_PLATFORM or not info.account_id.isdigit():
        raise Unauthorized("The staff session has expired or was ended; log in again.")
    staff_id = int(info.account_id)
    g.staff_id = staff_id
    return staff_id
