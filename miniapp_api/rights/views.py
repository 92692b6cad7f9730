"""Routes of a person's rights: delete the account (注销), export everything held."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from flask import Blueprint, Response, g
from flask.typing import ResponseReturnValue

from miniapp_api.accountview import NO_STORE
from miniapp_api.api import TrafficClass, operation, parse_body
from miniapp_api.redis_client import REDIS_ERRORS
from miniapp_api.rights import deletion, export, limits, purge
from miniapp_api.rights.schemas import DeleteAccountIn, DeletionOut, ExportOut
from miniapp_api.sessions import require_session
from miniapp_api.wiring import wiring

log = logging.getLogger(__name__)

bp = Blueprint("rights", __name__, url_prefix="/api/v1/me")

# The name the export is saved under; tests/test_no_leaks.py knows the one answer carrying
# full ID and phone numbers by it.
EXPORT_FILENAME = "miniapp-export.json"


@bp.delete("")
@operation(
    "Delete this login and everything held for it (注销): sessions, platform ids, phone, "
    "family members no other login holds; results are kept without identity (README, rights)",
    traffic=TrafficClass.NORMAL,
    body=DeleteAccountIn,
    response=DeletionOut,
    errors=(401, 415, 422),
)
def delete_me() -> ResponseReturnValue:
    wire = wiring()
    caller = require_session(wire.sessions)
    parse_body(DeleteAccountIn)
    with wire.db.session() as session:
        done = deletion.delete_account(
            session,
            caller.account_id,
            now=datetime.now(UTC),
            request_id=g.get("request_id", ""),
        )
    try:
        purge.purge_redis(
            wire.redis,
            done,
            sessions=wire.sessions,
            readmodel=wire.readmodel,
            codes=wire.settings.codes,
        )
    except REDIS_ERRORS:
        # The database part is done: the account is gone, so no session of it passes a use
        # case, and its sessions and screens expire on their own. The removed residents'
        # results in Redis do not: the log names them (pseudonymous ids) for an operator.
        log.error(
            "account %s deleted but Redis was not purged: delete the keys matching *{%s}* "
            "and results:{<id>}, results:{<id>}:watchers of the removed residents %s",
            done.account_id,
            done.account_id,
            " ".join(done.removed_residents) or "(none)",
        )
        raise
    return DeletionOut(**done.counts).model_dump(mode="json")


@bp.get("/export")
@operation(
    "Download everything held about this login and the people it holds, decrypted "
    "(PIPL Art. 45); a few times an hour, shed first under load",
    traffic=TrafficClass.SHEDDABLE,
    response=ExportOut,
    errors=(401, 429, 503),
)
def get_export() -> ResponseReturnValue:
    wire = wiring()
    caller = require_session(wire.sessions)
    limits.charge_export(wire.redis, caller.account_id)
    with wire.db.session() as session:
        out = export.export_account(
            session,
            caller.account_id,
            crypto=wire.crypto,
            now=datetime.now(UTC),
            request_id=g.get("request_id", ""),
        )
    body = json.dumps(out.model_dump(mode="json"), ensure_ascii=False, indent=1)
    return Response(
        body,
        mimetype="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="{EXPORT_FILENAME}"',
            "Cache-Control": NO_STORE,
        },
    )
