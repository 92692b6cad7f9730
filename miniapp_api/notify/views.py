"""Routes of the notify feature: the resident reports accepted subscribe-message templates."""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue

from miniapp_api.api import TrafficClass, operation, parse_body
from miniapp_api.db import utcnow
from miniapp_api.notify import service
from miniapp_api.notify.schemas import SubscriptionsIn, SubscriptionsOut
from miniapp_api.sessions import require_session
from miniapp_api.wiring import wiring

bp = Blueprint("notify", __name__, url_prefix="/api/v1/me")


@bp.post("/subscriptions")
@operation(
    "Report the message templates the resident accepted (one message per accept)",
    traffic=TrafficClass.NORMAL,
    body=SubscriptionsIn,
    response=SubscriptionsOut,
    errors=(401, 415),
)
def post_subscriptions() -> ResponseReturnValue:
    wire = wiring()
    caller = require_session(wire.sessions)
    report = parse_body(SubscriptionsIn)
    with wire.db.session() as session:
        out = service.record_acceptances(
            session,
            caller.account_id,
            accepted=report.accepted,
            templates=service.template_ids(wire.settings.notify),
            notice_templates=service.notice_template_ids(wire.settings.notify),
            now=utcnow(),
        )
    return out.model_dump(mode="json")
