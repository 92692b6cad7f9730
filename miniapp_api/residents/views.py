"""Routes of the logged-in account: me, profile, phone, family."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Response
from flask.typing import ResponseReturnValue

from channels.base import ChannelError
from miniapp_api.api import TrafficClass, operation, parse_body
from miniapp_api.auth.guard import require_session
from miniapp_api.overload.responses import channel_failure
from miniapp_api.overload.waiting_room import wait_your_turn
from miniapp_api.residents import family, service
from miniapp_api.residents.schemas import (
    DependentIn,
    MeOut,
    PhoneIn,
    PhoneOut,
    ProfileIn,
    ResidentOut,
)
from miniapp_api.wiring import wiring

bp = Blueprint("residents", __name__, url_prefix="/api/v1/me")


@bp.get("")
@operation(
    "The account, self, dependents and consents (masked)",
    traffic=TrafficClass.NORMAL,
    response=MeOut,
    errors=(401,),
)
def get_me() -> ResponseReturnValue:
    wire = wiring()
    caller = require_session(wire.sessions)
    with wire.db.session() as session:
        return service.me(session, caller.account_id).model_dump(mode="json")


@bp.put("/profile")
@operation(
    "Declare or correct who you are; links to an existing resident per DESIGN §4",
    traffic=TrafficClass.NORMAL,
    body=ProfileIn,
    response=ResidentOut,
    errors=(401, 409, 415, 503),
)
def put_profile() -> ResponseReturnValue:
    wire = wiring()
    caller = require_session(wire.sessions)
    queued = wait_your_turn(caller.account_id)  # the waiting room, when an operator opened it
    if queued is not None:
        return queued
    profile = parse_body(ProfileIn)
    with wire.db.session() as session:
        out = service.declare_profile(
            session, wire.crypto, wire.redis, caller.account_id, profile, date.today()
        )
    return out.model_dump(mode="json")


@bp.post("/phone")
@operation(
    "Bind the platform-verified phone number",
    traffic=TrafficClass.NORMAL,
    body=PhoneIn,
    response=PhoneOut,
    errors=(400, 401, 415, 502, 503),
)
def post_phone() -> ResponseReturnValue:
    wire = wiring()
    caller = require_session(wire.sessions)
    proof = parse_body(PhoneIn).proof()
    try:
        with wire.db.session() as session:
            masked = service.bind_phone(
                session, wire.crypto, wire.channel(caller.platform), caller.account_id, proof
            )
    except ChannelError as error:
        return channel_failure(error, caller.platform)
    return PhoneOut(phone_masked=masked).model_dump(mode="json")


@bp.post("/dependents")
@operation(
    "Add a family member",
    traffic=TrafficClass.NORMAL,
    body=DependentIn,
    response=ResidentOut,
    status=201,
    errors=(401, 409, 415, 503),
)
def post_dependent() -> ResponseReturnValue:
    wire = wiring()
    caller = require_session(wire.sessions)
    queued = wait_your_turn(caller.account_id)
    if queued is not None:
        return queued
    person = parse_body(DependentIn)
    with wire.db.session() as session:
        out = family.add_dependent(
            session,
            wire.crypto,
            wire.redis,
            wire.settings.residents,
            caller.account_id,
            person,
            date.today(),
        )
    return out.model_dump(mode="json"), 201


@bp.delete("/dependents/<resident_id>")
@operation("Remove a family member", traffic=TrafficClass.NORMAL, status=204, errors=(401, 404))
def delete_dependent(resident_id: str) -> ResponseReturnValue:
    wire = wiring()
    caller = require_session(wire.sessions)
    with wire.db.session() as session:
        family.remove_dependent(session, wire.redis, caller.account_id, resident_id)
    return Response(status=204)
