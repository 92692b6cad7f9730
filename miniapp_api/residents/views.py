"""Routes of the logged-in account: me, consents, profile, phone, family."""

from __future__ import annotations

from datetime import UTC, date, datetime

from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue

from miniapp_api.api import TrafficClass, operation, parse_body
from miniapp_api.overload.rejection import channel_of
from miniapp_api.overload.waiting_room import TICKET_HEADER
from miniapp_api.residents import consents, family, held_by, realname, requests, service
from miniapp_api.residents.schemas import (
    ConsentIn,
    ConsentOut,
    ConsentWithdrawnOut,
    DependentAddedOut,
    DependentIn,
    MeOut,
    PersonIn,
    PhoneIn,
    PhoneOut,
    ProfileIn,
    RealNameStartOut,
    ResidentOut,
)
from miniapp_api.sessions import SessionInfo, require_session
from miniapp_api.wiring import Wiring, wiring

bp = Blueprint("residents", __name__, url_prefix="/api/v1/me")


@bp.get("")
@operation(
    "The account, self, dependents, who holds your record, requests, consents and notices "
    "(all masked)",
    traffic=TrafficClass.NORMAL,
    response=MeOut,
    errors=(401,),
)
def get_me() -> ResponseReturnValue:
    wire = wiring()
    caller = require_session(wire.sessions)
    with wire.db.session() as session:
        found = service.me(session, caller.account_id, now=datetime.now(UTC))
        return found.model_dump(mode="json")


@bp.post("/consents")
@operation(
    "Agree to the current version of a legal document (README, consents); 201 when "
    "recorded, 200 when it already was",
    traffic=TrafficClass.NORMAL,
    body=ConsentIn,
    response=ConsentOut,
    status=201,
    errors=(401, 409, 415, 422),
)
def post_consent() -> ResponseReturnValue:
    wire = wiring()
    caller = require_session(wire.sessions)
    wanted = parse_body(ConsentIn)
    with wire.db.session() as session:
        given = consents.give(
            session,
            caller.account_id,
            document=wanted.document,
            version=wanted.version,
            channel=caller.platform,
            now=datetime.now(UTC),
        )
    return given.consent.model_dump(mode="json"), 201 if given.created else 200


@bp.delete("/consents/<document>")
@operation(
    "Withdraw a consent (kept on record); says what that stops, in zh and en",
    traffic=TrafficClass.NORMAL,
    response=ConsentWithdrawnOut,
    errors=(401, 404),
)
def delete_consent(document: str) -> ResponseReturnValue:
    wire = wiring()
    caller = require_session(wire.sessions)
    with wire.db.session() as session:
        out = consents.withdraw(
            session, caller.account_id, document=document, client=wire.redis, now=datetime.now(UTC)
        )
    return out.model_dump(mode="json")


@bp.post("/sessions/revoke")
@operation(
    "Log out everywhere: end every session of this account, this one included",
    traffic=TrafficClass.NORMAL,
    status=204,
    errors=(401,),
)
def revoke_sessions() -> ResponseReturnValue:
    wire = wiring()
    caller = require_session(wire.sessions)
    wire.sessions.revoke_all(caller.account_id)
    return Response(status=204)


@bp.post("/real-name")
@operation(
    "Start the platform's real-name check of a name and mainland ID number (README, identity)",
    traffic=TrafficClass.NORMAL,
    body=PersonIn,
    response=RealNameStartOut,
    errors=(401, 409, 415, 422, 429, 502, 503),
)
def post_real_name() -> ResponseReturnValue:
    wire = wiring()
    caller = require_session(wire.sessions)
    person = parse_body(PersonIn)
    with wire.db.session() as session:
        started = realname.start(
            session,
            caller.account_id,
            person=person,
            channel=wire.channel(caller.platform),
            crypto=wire.crypto,
            client=wire.redis,
            today=date.today(),
        )
    return started.model_dump(mode="json")


@bp.put("/profile")
@operation(
    "Declare or correct who you are; links to an existing resident (README, identity)",
    traffic=TrafficClass.NORMAL,
    body=ProfileIn,
    response=ResidentOut,
    errors=(400, 401, 409, 415, 422, 429, 502, 503),
    queued=True,  # the waiting room (_wait_your_turn): X-Queue-Ticket
)
def put_profile() -> ResponseReturnValue:
    wire = wiring()
    caller = require_session(wire.sessions)
    _wait_your_turn(wire, caller)
    profile = parse_body(ProfileIn)
    if profile.real_name_proof is not None:
        # Of a shape this platform takes, or 422 (as the schema's own checks).
        profile.real_name_proof.proof_for(caller.platform, "real_name_proof")
    with wire.db.session() as session:
        out = service.declare_profile(
            session,
            caller.account_id,
            profile=profile,
            channel=wire.channel(caller.platform),
            crypto=wire.crypto,
            client=wire.redis,
            today=date.today(),
            now=datetime.now(UTC),
        )
    return out.model_dump(mode="json")


@bp.post("/phone")
@operation(
    "Bind the platform-verified phone number",
    traffic=TrafficClass.NORMAL,
    body=PhoneIn,
    response=PhoneOut,
    errors=(400, 401, 415, 422, 502, 503),
    abusable=True,  # each call spends the platform's quota of phone-number calls
)
def post_phone() -> ResponseReturnValue:
    wire = wiring()
    caller = require_session(wire.sessions)
    proof = parse_body(PhoneIn).proof_for(caller.platform)
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
    "Add a family member: linked now, or a request to whoever holds the record "
    "(README, family links)",
    traffic=TrafficClass.NORMAL,
    body=DependentIn,
    response=DependentAddedOut,
    status=201,
    errors=(401, 409, 415, 422, 503),
    queued=True,  # the waiting room (_wait_your_turn): X-Queue-Ticket
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
            now=datetime.now(UTC),
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


@bp.post("/link-requests/<request_id>/approve")
@operation(
    "Approve a request to hold a record you hold",
    traffic=TrafficClass.NORMAL,
    status=204,
    errors=(401, 404, 409),
)
def approve_link_request(request_id: str) -> ResponseReturnValue:
    return _answer_request(request_id, approve=True)


@bp.post("/link-requests/<request_id>/decline")
@operation(
    "Decline a request to hold a record you hold",
    traffic=TrafficClass.NORMAL,
    status=204,
    errors=(401, 404),
)
def decline_link_request(request_id: str) -> ResponseReturnValue:
    return _answer_request(request_id, approve=False)


@bp.delete("/holders/<holder_id>")
@operation(
    "Remove another login's hold on your own record",
    traffic=TrafficClass.NORMAL,
    status=204,
    errors=(401, 404, 409),
)
def delete_holder(holder_id: str) -> ResponseReturnValue:
    wire = wiring()
    caller = require_session(wire.sessions)
    with wire.db.session() as session:
        held_by.remove_holder(session, caller.account_id, holder_id=holder_id, client=wire.redis)
    return Response(status=204)


def _answer_request(request_id: str, *, approve: bool) -> Response:
    wire = wiring()
    caller = require_session(wire.sessions)
    with wire.db.session() as session:
        requests.answer(
            session,
            caller.account_id,
            request_id=request_id,
            approve=approve,
            client=wire.redis,
            rules=wire.settings.residents,
            now=datetime.now(UTC),
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
