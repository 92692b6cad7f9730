"""DELETE /api/v1/me: the account and what only it held are gone, everywhere; others' stay."""

from __future__ import annotations

import json

import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from channels.emulator import RunningEmulator
from miniapp_api.audit.models import AuditEvent
from miniapp_api.residents.models import Account, Resident
from miniapp_api.results.models import OutboxMessage, PersonResult
from miniapp_api.sampling.models import Sampling
from miniapp_api.wiring import wiring_of
from tests.integration.rights.leftovers import Needle, Report, scan_database, scan_redis
from tests.integration.rights.world import (
    Family,
    open_screening,
    screened_family,
    someone_asks_to_hold,
)
from tests.support.factories import committed
from tests.support.ids import cn_id
from tests.support.phones import EmulatorPhone
from tests.support.residents import MiniProgramUser

CONFIRM = {"confirm": "DELETE"}
# Written when the scan runs, for the lead's closing note of issue 13.
SCAN_RESULT = "/tmp/rights-deletion-scan.txt"


def held_values(app: Flask, family: Family, emulator: RunningEmulator) -> list[Needle]:
    """Every plaintext, ciphertext and blind index the service holds of the family's login."""
    needles = [
        Needle("self name", family.name),
        Needle("self ID number", family.id_number),
        Needle("phone", family.phone),
        Needle("dependent name", family.dependent_name),
        Needle("dependent ID number", family.dependent_id_number),
        Needle("unionid", family.unionid),
    ]
    needles += [
        Needle("WeChat session key", key)
        for key in emulator.app.extensions["emulator_state"].issued_session_keys()
    ]
    with committed(app) as session:
        account = session.scalars(
            select(Account).where(Account.subject == family.user.subject)
        ).one()
        assert account.unionid == family.unionid
        needles.append(Needle("openid (subject)", account.subject))
        for label, value in (
            ("account phone_enc", account.phone_enc),
            ("account session_key_enc", account.session_key_enc),
            ("account phone_index", account.phone_index),
        ):
            assert value, label
            needles.append(Needle(label, value))
        for who, public_id in (("self", family.self_id), ("dependent", family.dependent_id)):
            resident = session.scalars(
                select(Resident).where(Resident.public_id == public_id)
            ).one()
            for column in ("id_enc", "name_enc", "phone_enc", "id_index", "phone_index"):
                value = getattr(resident, column)
                if value is not None:  # a dependent has no phone
                    needles.append(Needle(f"{who} {column}", value))
    return needles


def public_ids(family: Family, account_id: str) -> list[Needle]:
    return [
        Needle("account public id", account_id),
        Needle("self public id", family.self_id),
        Needle("dependent public id", family.dependent_id),
    ]


def scan(app: Flask, client: redis.Redis, needles: list[Needle]) -> Report:
    report = Report()
    scan_database(wiring_of(app).db.engine, needles, report)
    scan_redis(client, needles, report)
    return report


def test_deletion_leaves_no_plaintext_ciphertext_blind_index_or_id_anywhere(
    app: Flask,
    client: FlaskClient,
    phone: EmulatorPhone,
    emulator: RunningEmulator,
    redis_client: redis.Redis,
) -> None:
    screening = open_screening(app, client)
    family = screened_family(client, phone, screening)
    user = family.user
    other = someone_asks_to_hold(client, phone, family.dependent_name, family.dependent_id_number)
    # A request of our login for someone else's record (recorded, pending).
    asked = user.add_dependent(other.name, other.id_number, unable_to_apply=True)
    assert asked.status_code == 201, asked.get_json()
    account_id = user.me()["account"]["id"]
    assert [n["kind"] for n in user.me()["notices"]] == ["link_requested"]

    values = held_values(app, family, emulator)
    ids = public_ids(family, account_id)
    before = scan(app, redis_client, values + ids)
    # The scan finds what is there before the deletion: every stored value (plaintext names,
    # ID and phone numbers and session keys are never stored as such), the ids in Redis too.
    stored = {n.label for n in values + ids} - {
        "self name",
        "self ID number",
        "dependent name",
        "dependent ID number",
        "phone",
        "WeChat session key",
    }
    assert {m.label for m in before.matches} >= stored
    assert any(m.where.startswith("redis:") and "public id" in m.label for m in before.matches)
    with committed(app) as session:
        pending = session.scalar(select(OutboxMessage.id).where(OutboxMessage.status == "pending"))
        assert pending is not None, "a push is queued"

    deleted = client.delete("/api/v1/me", json=CONFIRM, headers=user.auth)

    assert deleted.status_code == 200, deleted.get_json()
    counts = deleted.get_json()
    assert (counts["residents_removed"], counts["residents_kept"]) == (2, 0)
    assert counts["results_anonymised"] == 2
    assert counts["notices_removed"] == 1
    assert counts["subscriptions_removed"] == 1
    assert counts["link_requests_removed"] == 2  # the one it made, the one about its dependent
    assert counts["pushes_removed"] >= 1
    assert all(isinstance(v, int) for v in counts.values())

    after = scan(app, redis_client, values + ids)
    outside_audit = [m for m in after.matches if not m.where.startswith("audit_events.")]
    in_audit = [m for m in after.matches if m.where.startswith("audit_events.")]
    summary = (
        f"{after.summary()}; outside audit_events: {len(outside_audit)}; in audit_events "
        f"(pseudonymous public ids only): {sorted({m.label for m in in_audit})}"
    )
    print(summary)
    with open(SCAN_RESULT, "w") as out:
        out.write(summary + "\n")
    assert outside_audit == []
    assert {m.label for m in in_audit} <= {
        "account public id",
        "self public id",
        "dependent public id",
    }
    assert after.tables >= 20
    assert after.rows > 0
    assert after.redis_keys > 0


def test_results_are_kept_without_identity_or_link_to_each_other(
    app: Flask, client: FlaskClient, phone: EmulatorPhone
) -> None:
    family = screened_family(client, phone, open_screening(app, client))
    with committed(app) as session:
        before = session.execute(select(Sampling.id, Sampling.resident_id)).all()

    assert client.delete("/api/v1/me", json=CONFIRM, headers=family.user.auth).status_code == 200

    with committed(app) as session:
        samplings = session.execute(
            select(Sampling.id, Sampling.resident_id, Sampling.code_id)
        ).all()
        results = session.execute(select(PersonResult.sampling_id, PersonResult.resident_id)).all()
        residents = session.scalar(text("SELECT count(*) FROM residents"))
        states = session.scalars(select(PersonResult.state)).all()
    assert len(samplings) == len(before) == 2
    assert all(r == -i and code == "" for i, r, code in samplings)
    assert sorted(results) == sorted((i, -i) for i, _, _ in samplings)
    assert states == ["negative", "negative"]  # the amended result, kept
    assert residents == 0


def test_deletion_needs_the_confirmation_field(
    client: FlaskClient, wechat_user: MiniProgramUser
) -> None:
    assert wechat_user.register("张三", cn_id()).status_code == 200
    for body in ({}, {"confirm": "delete"}, {"confirm": True}, {"confirm": "DELETE", "x": 1}):
        refused = client.delete("/api/v1/me", json=body, headers=wechat_user.auth)
        assert refused.status_code == 422, body
        fields = {problem["field"] for problem in refused.get_json()["detail"]}
        assert fields & {"confirm", "x"}, refused.get_json()
    assert wechat_user.me()["self"] is not None  # nothing was deleted


def test_every_session_ends_and_the_same_platform_user_starts_afresh(
    client: FlaskClient, phone: EmulatorPhone
) -> None:
    first = MiniProgramUser(client, phone, "wechat")
    assert first.register("张三", cn_id()).status_code == 200
    old_account = first.me()["account"]["id"]
    second_device = MiniProgramUser(client, phone, "wechat", subject=first.subject)
    assert second_device.login().status_code == 200
    assert second_device.me()["account"]["id"] == old_account

    assert client.delete("/api/v1/me", json=CONFIRM, headers=first.auth).status_code == 200

    for token in (first.auth, second_device.auth):
        for path in ("/api/v1/me", "/api/v1/results", "/api/v1/me/export"):
            assert client.get(path, headers=token).status_code == 401, path
    again = MiniProgramUser(client, phone, "wechat", subject=first.subject)
    assert again.login().status_code == 200
    fresh = again.me()
    assert fresh["account"]["id"] != old_account
    assert (fresh["self"], fresh["dependents"]) == (None, [])


def test_a_shared_self_and_a_shared_dependent_stay_with_the_other_login(
    app: Flask, client: FlaskClient, phone: EmulatorPhone, redis_client: redis.Redis
) -> None:
    """The person's other login (Alipay) keeps their own record and the dependent it was
    allowed to hold; only the deleted login's links go."""
    family = screened_family(client, phone, open_screening(app, client))
    alipay = MiniProgramUser(client, phone, "alipay")
    assert alipay.register(family.name, family.id_number, phone=family.phone).status_code == 200
    assert alipay.me()["self"]["id"] == family.self_id
    asked = alipay.add_dependent(family.dependent_name, family.dependent_id_number)
    assert asked.get_json()["status"] == "pending", asked.get_json()
    request_id = family.user.me()["link_requests"][0]["id"]
    approve = f"/api/v1/me/link-requests/{request_id}/approve"
    assert client.post(approve, headers=family.user.auth).status_code == 204
    seen_before = alipay.me()
    results_before = client.get("/api/v1/results", headers=alipay.auth).get_json()
    deleted_account = family.user.me()["account"]["id"]

    deleted = client.delete("/api/v1/me", json=CONFIRM, headers=family.user.auth)

    assert deleted.status_code == 200
    assert (deleted.get_json()["residents_removed"], deleted.get_json()["residents_kept"]) == (
        0,
        2,
    )
    seen_after = alipay.me()
    for part in ("account", "self", "dependents"):
        assert seen_after[part] == seen_before[part], part
    assert seen_after["holders"] == []  # the deleted login held the record; it no longer does
    assert client.get("/api/v1/results", headers=alipay.auth).get_json() == results_before
    with committed(app) as session:
        kept = session.scalars(select(Sampling.resident_id)).all()
    assert all(r > 0 for r in kept)  # the samplings of people who stay keep them
    watchers = [k for k in redis_client.scan_iter(match="results:*:watchers")]
    assert all(deleted_account.encode() not in redis_client.smembers(k) for k in watchers)
    assert list(redis_client.scan_iter(match=f"*{deleted_account}*")) == []


def test_the_deletion_is_audited_without_personal_values(
    app: Flask, client: FlaskClient, wechat_user: MiniProgramUser
) -> None:
    person = cn_id()
    assert wechat_user.register("张三", person).status_code == 200
    account_id = wechat_user.me()["account"]["id"]

    assert client.delete("/api/v1/me", json=CONFIRM, headers=wechat_user.auth).status_code == 200

    with committed(app) as session:
        [event] = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "account.delete")
        ).all()
    assert (event.actor_kind, event.actor) == ("account", account_id)
    assert event.request_id
    row = json.dumps([event.actor, event.action, event.object], ensure_ascii=False)
    assert all(value not in row for value in (person, "张三", "13812345678"))
    assert "residents_removed=1" in event.object
