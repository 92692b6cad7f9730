"""Routes of the logged-in account: me, profile, phone, family."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue

from miniapp_api.api import TrafficClass, operation, parse_body
from miniapp_api.overload.rejection import channel_of
from miniapp_api.overload.waiting_room import TICKET_HEADER
from miniapp_api.residents import family, service
from miniapp_api.residents.schemas import (
    DependentIn,
    MeOut,
    PhoneIn,
    PhoneOut,
    ProfileIn,
    ResidentOut,
)
from miniapp_api.sessions import SessionInfo, require_session
from miniapp_api.wiring import Wiring, wiring

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
    "Declare or correct who you are; links to an existing resident (README, identity)",
    traffic=TrafficClass.NORMAL,
    body=ProfileIn,
    response=ResidentOut,
    errors=(401, 409, 415, 503),
)
def put_profile() -> ResponseReturnValue:
    wire = wiring()
    caller = require_session(wire.sessions)
    _wait_your_turn(wire, caller)
    profile = parse_body(ProfileIn)
    with wire.db.session() as session:
        out = service.declare_profile(
            session,
            caller.account_id,
            profile=profile,
            crypto=wire.crypto,
            client=wire.redis,
            today=date.today(),
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
    with wire.db.session() as session:
        masked = service.bind_phone(
            session,
            caller.account_id,
            proof=proof,
            channel=wire.channel(caller.platform),
            crypto=wire.crypto,
        )
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
    _wait_your_turn(wire, caller)
    person = parse_body(DependentIn)
    with wire.db.session() as session:
        out = family.add_dependent(
            session,
            caller.account_id,
            person=person,
            crypto=wire.crypto,
            client=wire.redis,
            rules=wire.settings.residents,
            today=date.today(),
        )
    return out.model_dump(mode="json"), 201


@bp.delete("/dependents/<resident_id>")
@operation("Remove a family member", traffic=TrafficClass.NORMAL, status=204, errors=(401, 404))
def delete_dependent(resident_id: str) -> ResponseReturnValue:
    wire = wiring()
    caller = require_session(wire.sessions)
    with wire.db.session() as session:
        family.remove_dependent(
            session, caller.account_id, resident_id=resident_id, client=wire.redis
        )
    return Response(status=204)


def _wait_your_turn(wire: Wiring, caller: SessionInfo) -> None:
    """The waiting room of profile writes, when an operator opened it: returns when this
    write may go ahead, else raises the 503 with the caller's place in the queue."""
    wire.waiting_room.admit(
        caller.account_id,
        rate=wire.controls.current.modes.waiting_room_rate,
        ticket=request.headers.get(TICKET_HEADER),
        traffic=TrafficClass.NORMAL,  # the class of both routes that queue (their @operation)
        channel=channel_of(request.environ),
    )
