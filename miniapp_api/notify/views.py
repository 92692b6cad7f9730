"""Routes of the notify feature: the resident reports what a subscribe prompt accepted, and
reads the one-time accepts left."""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue

from miniapp_api.api import TrafficClass, operation, parse_body
from miniapp_api.db import utcnow
from miniapp_api.notify import service
from miniapp_api.notify.reports import read_report
from miniapp_api.notify.schemas import SubscriptionsHeld, SubscriptionsIn, SubscriptionsOut
from miniapp_api.sessions import require_session
from miniapp_api.wiring import wiring

bp = Blueprint("notify", __name__, url_prefix="/api/v1/me")


@bp.post("/subscriptions")
@operation(
    "Report what a subscribe prompt accepted (one message per accept): {accepted: [...]} or "
    "the raw result of wx.requestSubscribeMessage / my.requestSubscribeMessage",
    traffic=TrafficClass.NORMAL,
    body=SubscriptionsIn,
    response=SubscriptionsOut,
    errors=(401, 415),
)
def post_subscriptions() -> ResponseReturnValue:
    wire = wiring()
    caller = require_session(wire.sessions)
    report = read_report(parse_body(SubscriptionsIn))
    with wire.db.session() as session:
        out = service.record_acceptances(
            session,
            caller.account_id,
            accepted=report.accepted,
            named=report.named,
            templates=service.template_ids(wire.settings.notify),
            notice_templates=service.notice_template_ids(wire.settings.notify),
            now=utcnow(),
        )
    return out.model_dump(mode="json")


@bp.get("/subscriptions")
@operation(
    "The one-time accepts left per template we send (and what each template carries)",
    # Advice for the page (whether to prompt again), not the service itself.
    traffic=TrafficClass.SHEDDABLE,
    response=SubscriptionsHeld,
    errors=(401,),
)
def get_subscriptions() -> ResponseReturnValue:
    wire = wiring()
    caller = require_session(wire.sessions)
    with wire.db.session() as session:
        out = service.held_subscriptions(
            session,
            caller.account_id,
            templates=service.template_ids(wire.settings.notify),
            notice_templates=service.notice_template_ids(wire.settings.notify),
        )
    return out.model_dump(mode="json")
