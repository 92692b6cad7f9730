"""Staff login, scans and tubes against real PostgreSQL and Redis."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from threading import Barrier
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from miniapp_api.codes.tokens import sign_code
from miniapp_api.readmodel import ResultReadModel
from miniapp_api.residents.models import Resident
from miniapp_api.sampling.models import Sampling, ScanReceipt, ScreeningRound, Site, Staff, Tube
from miniapp_api.settings import SigningKey
from tests.support.clients import StaffClient, scan_item
from tests.support.factories import (
    code_claims,
    committed,
    issue_code,
    make_lab,
    make_person,
    make_resident,
    make_round,
    make_site,
    make_staff,
    unissued_code,
)
from tests.support.ids import cn_id
from tests.support.residents import MiniProgramUser


@dataclass
class Desk:
    """A site with a logged-in staff member, in an open round."""

    site: Site
    staff: StaffClient
    round: ScreeningRound


def open_desk(app: Flask, *, round_open: bool = True) -> Desk:
    site = make_site(app)
    member = make_staff(app, site)
    screening_round = make_round(app, closed=not round_open)
    staff = StaffClient(app.test_client(), member.username)
    assert staff.login().status_code == 200
    return Desk(site, staff, screening_round)


def second_desk(app: Flask, desk: Desk) -> Desk:
    """Another site in the same round."""
    site = make_site(app)
    member = make_staff(app, site)
    staff = StaffClient(app.test_client(), member.username)
    assert staff.login().status_code == 200
    return Desk(site, staff, desk.round)


@pytest.fixture
def desk(app: Flask) -> Desk:
    return open_desk(app)


def person_with_code(app: Flask, name: str = "张三") -> tuple[Resident, str]:
    person = make_person(app, name)
    return person.resident, person.token


def count(app: Flask, model: type[Any], *where: Any) -> int:
    with committed(app) as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def tube_row(app: Flask, tube_no: str) -> Tube:
    with committed(app) as session:
        return session.scalars(select(Tube).where(Tube.tube_no == tube_no)).one()


# --- staff login ----------------------------------------------------------------------------


def test_staff_login_gives_a_session_and_the_site(app: Flask, client: FlaskClient) -> None:
    site = make_site(app, "浦东 Site 1")
    make_staff(app, site, username="li.na")
    staff = StaffClient(client, "  Li.Na ")

    response = staff.login()

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"token", "expires_in", "site"}
    assert body["site"] == {"id": site.public_id, "name": "浦东 Site 1"}
    assert 0 < body["expires_in"] <= 24 * 3600


def test_wrong_password_is_refused_exactly_like_an_unknown_user(
    app: Flask, client: FlaskClient
) -> None:
    site = make_site(app)
    make_staff(app, site, username="wang.wei")
    make_staff(app, site, username="gone", active=False)

    wrong = StaffClient(client, "wang.wei", password="not-the-password").login()
    unknown = StaffClient(client, "nobody").login()
    inactive = StaffClient(client, "gone").login()

    assert wrong.status_code == unknown.status_code == inactive.status_code == 401
    assert wrong.get_json() == unknown.get_json() == inactive.get_json()
    assert wrong.get_json()["code"] == "invalid_credentials"


def test_the_staff_routes_are_described_as_critical(client: FlaskClient) -> None:
    paths = client.get("/openapi.json").get_json()["paths"]
    assert paths["/api/v1/staff/login"]["post"]["x-traffic-class"] == "critical"
    assert paths["/api/v1/staff/login"]["post"]["security"] == []
    scans = paths["/api/v1/sampling/scans"]["post"]
    assert scans["x-traffic-class"] == "critical"
    assert {"401", "409", "413", "415", "422"} <= set(scans["responses"])
    close = paths["/api/v1/sampling/tubes/{tube_no}/close"]["post"]
    assert close["x-traffic-class"] == "critical"


def test_scans_need_a_staff_session(
    desk: Desk, client: FlaskClient, wechat_user: MiniProgramUser
) -> None:
    item = scan_item("x", "T1")
    assert client.post("/api/v1/sampling/scans", json={"items": [item]}).status_code == 401
    wechat_user.login()
    as_resident = client.post(
        "/api/v1/sampling/scans", json={"items": [item]}, headers=wechat_user.auth
    )
    assert as_resident.status_code == 401
    assert client.post("/api/v1/sampling/tubes/T1/close", headers=wechat_user.auth).status_code == (
        401
    )


def test_a_deactivated_staff_member_is_logged_out(app: Flask, desk: Desk) -> None:
    with committed(app) as session:
        member = session.scalars(select(Staff).where(Staff.username == desk.staff.username)).one()
        member.active = False
    response = desk.staff.scan(scan_item("x", "T1"))
    assert response.status_code == 401


# --- one status at a time -------------------------------------------------------------------


def test_a_valid_code_binds_into_a_new_tube_and_shows_as_pending(
    app: Flask, desk: Desk, redis_client: redis.Redis
) -> None:
    resident, token = person_with_code(app, "欧阳娜娜")
    scanned = datetime.now(UTC) - timedelta(minutes=3)

    [answer] = desk.staff.scan_answers(scan_item(token, "T0001", scanned_at=scanned))

    assert answer["status"] == "bound"
    assert answer["tube"] == {
        "tube_no": "T0001",
        "capacity": 10,
        "bound_count": 1,
        "closed_at": None,
    }
    assert answer["person"] == {"name_masked": "欧*娜", "id_last4": resident.id_masked[-4:]}
    tube = tube_row(app, "T0001")
    assert (tube.site_id, tube.round_id, tube.lab_id) == (desk.site.id, desk.round.id, None)
    with committed(app) as session:
        sampling = session.scalars(select(Sampling)).one()
    assert sampling.resident_id == resident.id
    assert abs(sampling.scanned_at - scanned) < timedelta(seconds=1)
    assert sampling.created_at > scanned  # server time, not the device's
    [entry] = ResultReadModel(redis_client).read([resident.public_id])[resident.public_id]
    assert (entry.tube_no, entry.state, entry.site_name, entry.round_name) == (
        "T0001",
        "pending",
        desk.site.name,
        desk.round.name,
    )


def test_a_tube_takes_the_lab_of_its_site(app: Flask) -> None:
    lab = make_lab(app)
    member = make_staff(app, make_site(app, lab=lab))
    make_round(app)
    staff = StaffClient(app.test_client(), member.username)
    staff.login()
    _, token = person_with_code(app)
    assert staff.scan_answers(scan_item(token, "LAB-1"))[0]["status"] == "bound"
    assert tube_row(app, "LAB-1").lab_id == lab.id


def test_a_second_scan_in_the_round_is_a_duplicate_naming_the_first_site_and_time(
    app: Flask, desk: Desk
) -> None:
    _, token = person_with_code(app)
    # Within the round (opened 2 hours ago) and the scan window: an older time is stale.
    first_time = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    desk.staff.scan_answers(scan_item(token, "T1", scanned_at=first_time))
    elsewhere = second_desk(app, desk)

    [answer] = elsewhere.staff.scan_answers(scan_item(token, "T2"))

    assert answer["status"] == "duplicate"
    assert answer["first_scan"] == {
        "site": desk.site.name,
        "scanned_at": first_time.isoformat().replace("+00:00", "Z"),
    }
    assert desk.site.name in answer["message"]
    shanghai = first_time + timedelta(hours=8)  # the message shows Beijing time (UTC+8)
    assert f"{shanghai:%Y-%m-%d %H:%M}" in answer["message"]
    assert count(app, Tube, Tube.tube_no == "T2") == 0  # nothing opened for a refused scan


def test_a_reissued_code_is_revoked_and_the_new_one_binds(app: Flask, desk: Desk) -> None:
    resident, old = person_with_code(app)
    new = issue_code(app, resident)

    answers = desk.staff.scan_answers(scan_item(old, "T1"), scan_item(new, "T1"))

    assert [a["status"] for a in answers] == ["revoked", "bound"]


def test_a_code_scanned_offline_before_it_was_reissued_still_binds(app: Flask, desk: Desk) -> None:
    resident, old = person_with_code(app)
    scanned_offline = datetime.now(UTC) - timedelta(hours=1)
    issue_code(app, resident)  # re-issued since

    [answer] = desk.staff.scan_answers(scan_item(old, "T1", scanned_at=scanned_offline))

    assert answer["status"] == "bound"


def test_an_expired_code_is_expired(app: Flask, desk: Desk) -> None:
    token = issue_code(app, make_resident(app), expires_at=datetime.now(UTC) - timedelta(minutes=1))
    [answer] = desk.staff.scan_answers(scan_item(token, "T1"))
    assert answer["status"] == "expired"
    assert count(app, Sampling) == 0


def test_a_signed_code_we_never_issued_is_invalid(app: Flask, desk: Desk) -> None:
    forged_id = unissued_code(app, make_resident(app))

    [answer] = desk.staff.scan_answers(scan_item(forged_id, "T1"))

    assert answer["status"] == "invalid"
    assert answer["person"] is None


def test_a_full_tube_refuses_more(app: Flask, desk: Desk) -> None:
    _, first = person_with_code(app)
    _, second = person_with_code(app)

    answers = desk.staff.scan_answers(
        scan_item(first, "SINGLE-1", capacity=1), scan_item(second, "SINGLE-1")
    )

    assert [a["status"] for a in answers] == ["bound", "tube_full"]
    assert answers[1]["tube"]["bound_count"] == answers[1]["tube"]["capacity"] == 1


def test_a_different_capacity_for_an_existing_tube_is_ignored(app: Flask, desk: Desk) -> None:
    _, first = person_with_code(app)
    _, second = person_with_code(app)
    answers = desk.staff.scan_answers(
        scan_item(first, "T5", capacity=5), scan_item(second, "T5", capacity=20)
    )
    assert [a["tube"]["capacity"] for a in answers] == [5, 5]
    assert tube_row(app, "T5").capacity == 5


def test_a_closed_tube_refuses_more_and_closing_twice_keeps_the_first_time(
    app: Flask, desk: Desk
) -> None:
    _, first = person_with_code(app)
    _, second = person_with_code(app)
    desk.staff.scan_answers(scan_item(first, "T1", capacity=5))

    closed = desk.staff.close("T1")
    again = desk.staff.close("T1")
    [answer] = desk.staff.scan_answers(scan_item(second, "T1"))

    assert closed.status_code == again.status_code == 200
    assert closed.get_json() == again.get_json()
    assert closed.get_json()["bound_count"] == 1
    assert closed.get_json()["closed_at"]
    assert answer["status"] == "tube_closed"
    assert answer["tube"]["closed_at"] == closed.get_json()["closed_at"]


def test_another_sites_tube_is_refused_like_an_unknown_one(app: Flask, desk: Desk) -> None:
    _, first = person_with_code(app)
    _, second = person_with_code(app)
    desk.staff.scan_answers(scan_item(first, "OURS-1"))
    other = second_desk(app, desk)

    [answer] = other.staff.scan_answers(scan_item(second, "OURS-1"))
    close_theirs = other.staff.close("OURS-1")
    close_unknown = other.staff.close("NOBODY-1")

    assert answer["status"] == "tube_unavailable"
    assert answer["tube"] is None  # nothing about the other site's tube
    assert close_theirs.status_code == close_unknown.status_code == 404
    assert close_theirs.get_json() == close_unknown.get_json()
    assert tube_row(app, "OURS-1").closed_at is None


def test_a_tube_of_an_earlier_round_is_unavailable(app: Flask, desk: Desk) -> None:
    _, first = person_with_code(app)
    _, second = person_with_code(app)
    desk.staff.scan_answers(scan_item(first, "OLD-1"))
    with committed(app) as session:
        session.get_one(ScreeningRound, desk.round.id).closed_at = datetime.now(UTC)
    make_round(app)

    [answer] = desk.staff.scan_answers(scan_item(second, "OLD-1"))

    assert answer["status"] == "tube_unavailable"


def test_only_a_binding_answer_shows_the_id_ending(app: Flask, desk: Desk) -> None:
    """A scan that binds no one shows what the code shows (the masked name), nothing more:
    otherwise any staff account reads the ID ending of any code without sampling anyone."""
    resident, token = person_with_code(app, "欧阳娜娜")
    desk.staff.scan_answers(scan_item(person_with_code(app)[1], "FULL-1", capacity=1))
    desk.staff.scan_answers(scan_item(person_with_code(app)[1], "SHUT-1"))
    assert desk.staff.close("SHUT-1").status_code == 200
    other = second_desk(app, desk)
    other.staff.scan_answers(scan_item(person_with_code(app)[1], "THEIRS-1"))
    moved_on, old = person_with_code(app)
    issue_code(app, moved_on)

    refused = desk.staff.scan_answers(
        scan_item(token, "FULL-1"),
        scan_item(token, "SHUT-1"),
        scan_item(token, "THEIRS-1"),
        scan_item(old, "T-OK"),
    )
    [bound] = desk.staff.scan_answers(scan_item(token, "T-OK"))
    [duplicate] = other.staff.scan_answers(scan_item(token, "T-AGAIN"))

    not_bound = [*refused, duplicate]
    assert [a["status"] for a in not_bound] == [
        "tube_full",
        "tube_closed",
        "tube_unavailable",
        "revoked",
        "duplicate",
    ]
    for answer in not_bound:
        assert answer["person"]["id_last4"] is None, answer["status"]
        assert answer["person"]["name_masked"], answer["status"]
    assert bound["status"] == "bound"
    assert bound["person"] == {"name_masked": "欧*娜", "id_last4": resident.id_masked[-4:]}


def test_a_dependents_code_binds_like_any_other(
    app: Flask, desk: Desk, wechat_user: MiniProgramUser
) -> None:
    wechat_user.login()
    added = wechat_user.add_dependent("李秀英", cn_id(birth="19480101"))
    assert added.status_code == 201
    with committed(app) as session:
        grandma = session.scalars(
            select(Resident).where(Resident.public_id == added.get_json()["dependent"]["id"])
        ).one()
    token = issue_code(app, grandma)

    [answer] = desk.staff.scan_answers(scan_item(token, "T1"))

    assert answer["status"] == "bound"
    assert answer["person"]["name_masked"] == "李*英"


def test_without_an_open_round_the_batch_is_refused_and_nothing_kept(app: Flask) -> None:
    desk = open_desk(app, round_open=False)
    _, token = person_with_code(app)

    response = desk.staff.scan(scan_item(token, "T1"))

    assert response.status_code == 409
    assert response.get_json()["code"] == "no_open_round"
    assert count(app, ScanReceipt) == 0


# --- batches and re-sends -------------------------------------------------------------------


def test_a_mixed_batch_answers_each_item_in_order(app: Flask, desk: Desk) -> None:
    people = [person_with_code(app) for _ in range(3)]
    revoked_holder, revoked = person_with_code(app)
    issue_code(app, revoked_holder)
    expired = issue_code(app, make_resident(app), expires_at=datetime.now(UTC) - timedelta(days=1))
    items = [
        scan_item(people[0][1], "MIX-1", capacity=1),
        scan_item(people[1][1], "MIX-1"),  # the tube holds one
        scan_item(people[0][1], "MIX-2"),  # sampled a moment ago, in this very batch
        scan_item("not a code", "MIX-2"),
        scan_item(expired, "MIX-2"),
        scan_item(revoked, "MIX-2"),
        scan_item(people[2][1], "MIX-2"),
    ]

    answers = desk.staff.scan_answers(*items)

    assert [a["status"] for a in answers] == [
        "bound",
        "tube_full",
        "duplicate",
        "invalid",
        "expired",
        "revoked",
        "bound",
    ]
    assert [a["client_id"] for a in answers] == [i["client_id"] for i in items]
    assert count(app, Sampling) == 2


def test_resending_a_batch_gives_the_same_answers_and_binds_nothing_twice(
    app: Flask, desk: Desk, redis_client: redis.Redis
) -> None:
    tokens = [person_with_code(app)[1] for _ in range(3)]
    items = [scan_item(t, "RE-1", capacity=5) for t in tokens] + [scan_item("junk", "RE-1")]
    first = desk.staff.scan(*items)
    desk.staff.close("RE-1")  # the world changes; the answers do not

    again = desk.staff.scan(*items)

    assert first.status_code == again.status_code == 200
    assert again.get_data() == first.get_data()
    counts = [a["tube"]["bound_count"] for a in first.get_json()["items"][:3]]
    assert counts == [1, 2, 3]
    assert count(app, Sampling) == 3
    assert count(app, ScanReceipt) == 4
    assert tube_row(app, "RE-1").bound_count == 3


def test_a_batch_resent_after_the_round_closed_gets_its_answers_again(
    app: Flask, desk: Desk
) -> None:
    _, token = person_with_code(app)
    items = [scan_item(token, "LATE-1"), scan_item("junk", "LATE-1")]
    first = desk.staff.scan(*items)
    with committed(app) as session:
        session.get_one(ScreeningRound, desk.round.id).closed_at = datetime.now(UTC)

    again = desk.staff.scan(*items)
    with_a_new_item = desk.staff.scan(*items, scan_item(token, "LATE-2"))

    assert again.status_code == 200
    assert again.get_data() == first.get_data()
    assert with_a_new_item.status_code == 409


def test_the_same_client_id_twice_in_one_batch_is_one_scan(app: Flask, desk: Desk) -> None:
    _, token = person_with_code(app)
    item = scan_item(token, "T1")
    answers = desk.staff.scan_answers(item, item)
    assert answers[0] == answers[1]
    assert answers[0]["status"] == "bound"
    assert count(app, Sampling) == 1


def in_threads(n: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` in ``n`` threads released at the same moment."""
    start = Barrier(n)

    def run(i: int) -> Any:
        start.wait()
        return work(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


def test_concurrent_resends_of_a_batch_bind_exactly_once(app: Flask, desk: Desk) -> None:
    tokens = [person_with_code(app)[1] for _ in range(6)]
    items = [scan_item(t, f"CC-{i % 2}") for i, t in enumerate(tokens)]
    assert desk.staff.token

    def send(_: int) -> tuple[int, bytes]:
        response = app.test_client().post(
            "/api/v1/sampling/scans", json={"items": items}, headers=desk.staff.auth
        )
        return response.status_code, response.get_data()

    results = in_threads(8, send)

    assert {status for status, _ in results} == {200}
    assert len({body for _, body in results}) == 1
    assert [a["status"] for a in json.loads(results[0][1])["items"]] == ["bound"] * 6
    assert count(app, Sampling) == 6
    assert count(app, ScanReceipt) == 6
    assert tube_row(app, "CC-0").bound_count == tube_row(app, "CC-1").bound_count == 3


def test_tube_capacity_is_exact_under_concurrent_scans(app: Flask, desk: Desk) -> None:
    tokens = [person_with_code(app)[1] for _ in range(12)]

    def send(i: int) -> str:
        response = app.test_client().post(
            "/api/v1/sampling/scans",
            json={"items": [scan_item(tokens[i], "RUSH-1", capacity=5)]},
            headers=desk.staff.auth,
        )
        assert response.status_code == 200, response.get_json()
        status: str = response.get_json()["items"][0]["status"]
        return status

    statuses = in_threads(12, send)

    assert sorted(statuses) == ["bound"] * 5 + ["tube_full"] * 7
    assert tube_row(app, "RUSH-1").bound_count == 5
    assert count(app, Sampling) == 5


def test_the_same_person_scanned_at_two_sites_at_once_is_bound_once(app: Flask, desk: Desk) -> None:
    _, token = person_with_code(app)
    other = second_desk(app, desk)
    staffs = [desk.staff, other.staff] * 3

    def send(i: int) -> str:
        response = app.test_client().post(
            "/api/v1/sampling/scans",
            json={"items": [scan_item(token, f"BOTH-{i % 2}")]},
            headers=staffs[i].auth,
        )
        assert response.status_code == 200, response.get_json()
        status: str = response.get_json()["items"][0]["status"]
        return status

    statuses = in_threads(6, send)

    assert sorted(statuses) == ["bound"] + ["duplicate"] * 5
    assert count(app, Sampling) == 1


# --- bad input ------------------------------------------------------------------------------


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _flip_bit(segment: str, byte: int) -> str:
    raw = bytearray(_unb64(segment))
    raw[byte % len(raw)] ^= 0x01
    return _b64(bytes(raw))


def tampered_codes(token: str, resident: Resident) -> dict[str, str]:
    header, payload, signature = token.split(".")
    expires = datetime.now(UTC) + timedelta(days=1)
    other_key = SigningKey("t1", b"", secrets.token_bytes(32))  # our kid, another key
    unknown_kid = SigningKey("zz", b"", secrets.token_bytes(32))
    claims = code_claims(resident, "whatever", expires)
    alg_none = _b64(json.dumps({"alg": "none", "kid": "t1"}).encode())
    return {
        "signature bit flip": f"{header}.{payload}.{_flip_bit(signature, 7)}",
        "payload bit flip": f"{header}.{_flip_bit(payload, 3)}.{signature}",
        "header bit flip": f"{_flip_bit(header, 2)}.{payload}.{signature}",
        "truncated signature": token[:-5],
        "truncated in half": token[: len(token) // 2],
        "header only": header,
        "no signature": f"{header}.{payload}.",
        "alg none": f"{alg_none}.{payload}.",
        "our kid, another key": sign_code(other_key, claims),
        "unknown kid": sign_code(unknown_kid, claims),
        "empty": "",
        "garbage": "hello, world",
        "three dots": "a.b.c",
        "non-ascii": "张三的码",
        "long": "A" * 4000,
        "json": '{"jti": "x"}',
    }


def test_tampered_and_malformed_codes_are_refused_per_item_never_5xx(
    app: Flask, desk: Desk
) -> None:
    resident, token = person_with_code(app)
    bad = tampered_codes(token, resident)
    items = [scan_item(code, "TAMPER-1") for code in bad.values()]

    answers = desk.staff.scan_answers(*items, scan_item(token, "TAMPER-1"))

    statuses = dict(zip([*bad, "genuine"], [a["status"] for a in answers], strict=True))
    assert statuses == {**dict.fromkeys(bad, "invalid"), "genuine": "bound"}
    assert count(app, Sampling) == 1


@pytest.mark.parametrize("name", ["signature bit flip", "truncated in half", "unknown kid"])
def test_a_tampered_code_alone_is_one_invalid_answer(app: Flask, desk: Desk, name: str) -> None:
    resident, token = person_with_code(app)
    response = desk.staff.scan(scan_item(tampered_codes(token, resident)[name], "T1"))
    assert response.status_code == 200
    assert response.get_json()["items"][0]["status"] == "invalid"


def test_an_oversized_batch_is_refused_whole(app: Flask, desk: Desk) -> None:
    items = [scan_item("x", "T1") for _ in range(501)]

    response = desk.staff.scan(*items)

    assert response.status_code == 413
    assert response.get_json()["code"] == "batch_too_large"
    assert response.get_json()["detail"]["max_items"] == 500
    assert count(app, ScanReceipt) == 0


def test_an_oversized_body_is_refused_before_it_is_read(desk: Desk) -> None:
    body = b'{"items": [' + b'"' + b"x" * (4 * 1024 * 1024) + b'"]}'
    response = desk.staff.client.post(
        "/api/v1/sampling/scans",
        data=body,
        content_type="application/json",
        headers=desk.staff.auth,
    )
    assert response.status_code == 413
    assert response.get_json()["code"] == "batch_too_large"


def test_the_largest_allowed_batch_is_accepted(app: Flask, desk: Desk) -> None:
    _, token = person_with_code(app)
    items = [scan_item(token, "BIG-1")] + [scan_item("bad", "BIG-1") for _ in range(499)]
    answers = desk.staff.scan_answers(*items)
    assert len(answers) == 500
    assert answers[0]["status"] == "bound"


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"items=1", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        (b'{"items": [', "application/json", 400, "malformed_json"),
        (b'{"items": []}', "application/json", 422, "validation_failed"),
        (b'{"items": "T1"}', "application/json", 422, "validation_failed"),
    ],
)
def test_malformed_requests_get_clear_errors(
    desk: Desk, body: bytes, content_type: str, status: int, code: str
) -> None:
    response = desk.staff.client.post(
        "/api/v1/sampling/scans", data=body, content_type=content_type, headers=desk.staff.auth
    )
    assert response.status_code == status
    assert response.get_json()["code"] == code


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("scanned_at", "2022-03-16T09:30:00"),  # no offset: whose clock?
        ("capacity", 7),
        ("tube_no", "T 1; DROP"),
        ("client_id", ""),
        ("code", "A" * 5000),
    ],
)
def test_an_item_breaking_the_contract_is_named(desk: Desk, field: str, value: Any) -> None:
    item = {**scan_item("x", "T1"), field: value}
    response = desk.staff.scan(scan_item("y", "T1"), item)
    assert response.status_code == 422
    assert response.get_json()["detail"][0]["field"] == f"items.1.{field}"


def test_a_scan_time_in_the_future_is_kept_as_the_time_received(app: Flask, desk: Desk) -> None:
    _, token = person_with_code(app)
    desk.staff.scan_answers(
        scan_item(token, "T1", scanned_at=datetime.now(UTC) + timedelta(days=300))
    )
    with committed(app) as session:
        sampling = session.scalars(select(Sampling)).one()
    assert sampling.scanned_at <= datetime.now(UTC)


def test_a_redis_failure_after_commit_loses_no_scan(
    app: Flask, desk: Desk, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def down(*_: Any) -> None:
        raise redis.ConnectionError("redis is down")

    monkeypatch.setattr(ResultReadModel, "record", down)
    _, token = person_with_code(app)

    [answer] = desk.staff.scan_answers(scan_item(token, "T1"))

    assert answer["status"] == "bound"
    assert count(app, Sampling) == 1
    assert "read model not updated" in caplog.text


def test_batches_crossing_each_other_bind_everyone_once(app: Flask, desk: Desk) -> None:
    """Two sites scan the same people in opposite orders at once (a deadlock is retried)."""
    people = [person_with_code(app)[1] for _ in range(4)]
    other = second_desk(app, desk)

    def send(i: int) -> list[str]:
        staff, order = (desk.staff, people) if i % 2 else (other.staff, people[::-1])
        response = app.test_client().post(
            "/api/v1/sampling/scans",
            json={"items": [scan_item(code, f"X-{i}", capacity=5) for code in order]},
            headers=staff.auth,
        )
        assert response.status_code == 200, response.get_json()
        return [a["status"] for a in response.get_json()["items"]]

    answers = in_threads(4, send)

    assert sum(statuses.count("bound") for statuses in answers) == 4
    assert count(app, Sampling) == 4


# --- the embedded default -------------------------------------------------------------------


def test_scanning_works_on_sqlite_and_the_stand_in(embedded_app: Flask) -> None:
    desk = open_desk(embedded_app)
    _, token = person_with_code(embedded_app)
    _, other = person_with_code(embedded_app)
    items = [
        scan_item(token, "E-1", capacity=1),
        scan_item(token, "E-2"),
        scan_item(other, "E-1"),
        scan_item("junk", "E-1"),
    ]

    answers = desk.staff.scan_answers(*items)
    again = desk.staff.scan_answers(*items)

    assert [a["status"] for a in answers] == ["bound", "duplicate", "tube_full", "invalid"]
    assert again == answers
    assert desk.staff.close("E-1").status_code == 200
    assert count(embedded_app, Sampling) == 1
