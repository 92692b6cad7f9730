"""Review mode (issue 13, item 1): the platforms' reviewers log in to a sandbox of synthetic
people, every screen works for them, and nothing they do reaches a real resident.

On PostgreSQL, real Redis and the emulator; the real residents log in through WeChat.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from channels.emulator import RunningEmulator
from miniapp_api import create_app
from miniapp_api.audit.models import AuditEvent
from miniapp_api.legal.documents import DOCUMENTS, REQUIRED_FOR_SENSITIVE_DATA
from miniapp_api.residents.models import Resident
from miniapp_api.review.accounts import Reviewer, check_password, new_password, parse_reviewers
from miniapp_api.review.commands import review as review_cli
from miniapp_api.review.sandbox import RESERVED_REGION, is_reserved, reserved_id_number
from miniapp_api.review.views import install_reviewers
from miniapp_api.sampling.models import Sampling
from miniapp_api.settings import ConfigurationError
from tests.conftest import REDIS_URL, PlatformKeys, app_overrides
from tests.support.clients import BearerClient, StaffClient, scan_item
from tests.support.factories import committed, make_round, make_site, make_staff
from tests.support.ids import cn_id
from tests.support.residents import MiniProgramUser

PASSWORD, REVIEWER = new_password("wechat-review")


@pytest.fixture
def review_app(
    app: Flask, platform_keys: PlatformKeys, emulator: RunningEmulator, postgres_url: str
) -> Iterator[Flask]:
    """The app on the same database and Redis with review mode on and one reviewer (the
    tables are emptied after the test by ``app``)."""
    overrides = app_overrides(platform_keys, emulator.base_url, postgres_url, REDIS_URL)
    entry = {"name": REVIEWER.name, "password_hash": REVIEWER.password_hash}
    on = create_app({**overrides, "REVIEW": {"ENABLED": True, "ACCOUNTS": json.dumps([entry])}})
    on.testing = True
    yield on
    on.extensions["miniapp"].db.dispose()


class ReviewerApp(BearerClient):
    def login(self, name: str = REVIEWER.name, password: str = PASSWORD) -> Any:
        """Log in; then agree to the documents, as the mini-program asks at first launch (a
        reset sandbox has no consents, so a reviewer sees that step each time)."""
        body = {"username": name, "password": password}
        response = self.logged_in(self.client.post("/api/v1/auth/review", json=body))
        if response.status_code == 200:
            for document in REQUIRED_FOR_SENSITIVE_DATA:
                version = DOCUMENTS[document].version
                given = self.client.post(
                    "/api/v1/me/consents",
                    json={"document": document, "version": version},
                    headers=self.auth,
                )
                assert given.status_code in (200, 201), given.get_json()
        return response

    def get(self, path: str) -> Any:
        return self.client.get(path, headers=self.auth)


@pytest.fixture
def reviewer(review_app: Flask) -> ReviewerApp:
    found = ReviewerApp(review_app.test_client())
    assert found.login().status_code == 200
    return found


def states(results: dict[str, Any]) -> dict[str, list[tuple[str, bool]]]:
    """Each resident's (state, overdue) of the latest result, then of the history."""
    return {
        r["name_masked"]: [(x["state"], x["overdue"]) for x in [r["latest"], *r["history"]]]
        for r in results["residents"]
    }


# --- off by default ---------------------------------------------------------------------------


def test_review_mode_off_answers_404_like_an_unknown_route(client: FlaskClient) -> None:
    body = {"username": REVIEWER.name, "password": PASSWORD}
    refused = client.post("/api/v1/auth/review", json=body)
    unknown = client.post("/api/v1/auth/no-such-route", json=body)
    assert refused.status_code == unknown.status_code == 404
    assert refused.get_json() == unknown.get_json()


# --- logging in ---------------------------------------------------------------------------------


def test_a_reviewer_gets_a_sandbox_with_every_state(reviewer: ReviewerApp) -> None:
    me = reviewer.get("/api/v1/me").get_json()
    assert me["account"]["platform"] == "review"
    assert me["self"]["id_masked"].startswith(RESERVED_REGION)
    assert len(me["dependents"]) == 2

    shown = states(reviewer.get("/api/v1/results").get_json())
    mine, child, parent = shown.values()
    assert mine[0] == ("negative", False)
    assert {"retest_required", "positive", "negative"} <= {s for s, _ in mine[1:]}
    assert child[0] == ("pending", False)
    assert parent[0] == ("pending", True)  # overdue

    code = reviewer.get(f"/api/v1/residents/{me['self']['id']}/code")
    assert code.status_code == 200
    png = reviewer.get(f"/api/v1/residents/{me['self']['id']}/code.png")
    assert png.status_code == 200
    assert png.data.startswith(b"\x89PNG")


def test_the_sandbox_people_are_flagged_synthetic_in_the_reserved_range(
    review_app: Flask, reviewer: ReviewerApp
) -> None:
    crypto = review_app.extensions["miniapp"].crypto
    with committed(review_app) as session:
        people = list(session.scalars(select(Resident)))
        numbers = [crypto.decrypt("resident.id_number", r.id_enc) for r in people]
    assert len(people) == 3
    assert all(r.synthetic for r in people)
    assert all(is_reserved(n) for n in numbers)


def test_wrong_passwords_are_refused_then_counted(review_app: Flask) -> None:
    guesser = ReviewerApp(review_app.test_client())
    assert guesser.login(password="not-it").status_code == 401
    unknown = guesser.login(name="nobody", password="not-it")
    assert unknown.status_code == 401
    assert unknown.get_json()["code"] == "invalid_credentials"
    for _ in range(10):
        guesser.login(password="not-it")
    limited = guesser.login()  # even the right password, once the name is locked
    assert limited.status_code == 429
    assert limited.get_json()["code"] == "too_many_failures"
    assert int(limited.headers["Retry-After"]) > 0


def test_each_login_resets_the_sandbox(review_app: Flask, reviewer: ReviewerApp) -> None:
    before = reviewer.get("/api/v1/me").get_json()
    added = reviewer.client.post(
        "/api/v1/me/dependents",
        json={
            "name": "审核加的",
            "id_type": "passport",
            "id_number": "E12345678",
            "birth_date": "1990-01-01",
            "unable_to_apply": True,
        },
        headers=reviewer.auth,
    )
    assert added.status_code in (200, 201), added.get_json()
    assert len(reviewer.get("/api/v1/me").get_json()["dependents"]) == 3

    again = ReviewerApp(review_app.test_client())
    assert again.login().status_code == 200
    after = again.get("/api/v1/me").get_json()
    assert len(after["dependents"]) == 2
    assert after["self"]["id"] != before["self"]["id"]
    # The old people are gone, for the old session too.
    old = reviewer.get(f"/api/v1/residents/{before['self']['id']}/code")
    assert old.status_code == 404
    with committed(review_app) as session:
        assert session.scalar(select(func.count()).select_from(Resident)) == 3


def test_miniapp_review_reset_puts_the_sandbox_back(
    review_app: Flask, reviewer: ReviewerApp
) -> None:
    first = reviewer.get("/api/v1/me").get_json()["self"]["id"]
    ran = review_app.test_cli_runner().invoke(review_cli, ["reset"])
    assert ran.exit_code == 0, ran.output
    assert f"reset 1 sandbox(es): {REVIEWER.name}" in ran.output
    me = reviewer.get("/api/v1/me").get_json()  # the same session sees the fresh sandbox
    assert me["self"]["id"] != first
    assert len(states(reviewer.get("/api/v1/results").get_json())) == 3


def test_logins_and_resets_are_in_the_audit_trail(review_app: Flask, reviewer: ReviewerApp) -> None:
    review_app.test_cli_runner().invoke(review_cli, ["reset"])
    with committed(review_app) as session:
        actions = [(e.actor_kind, e.action) for e in session.scalars(select(AuditEvent))]
    assert ("reviewer", "review.login") in actions
    assert ("system", "review.reset") in actions


# --- nothing real is reachable (BOLA) -------------------------------------------------------------


@pytest.fixture
def resident(review_app: Flask, phone: Any) -> tuple[MiniProgramUser, str, dict[str, Any]]:
    """A real resident (WeChat) with a code; their ID number and their /me."""
    user = MiniProgramUser(review_app.test_client(), phone, "wechat")
    number = cn_id()
    assert user.register("王真实", number).status_code == 200
    me = user.client.get("/api/v1/me", headers=user.auth).get_json()
    assert (
        user.client.get(f"/api/v1/residents/{me['self']['id']}/code", headers=user.auth).status_code
        == 200
    )
    return user, number, me


ROUTES_ON_A_RESIDENT = (
    ("GET", "/api/v1/residents/{id}/code"),
    ("GET", "/api/v1/residents/{id}/code.png"),
    ("GET", "/api/v1/residents/{id}/code.svg"),
    ("POST", "/api/v1/residents/{id}/code"),
    ("DELETE", "/api/v1/me/dependents/{id}"),
)


@pytest.mark.parametrize(("method", "path"), ROUTES_ON_A_RESIDENT)
def test_a_reviewer_cannot_reach_a_real_resident_by_id(
    reviewer: ReviewerApp,
    resident: tuple[MiniProgramUser, str, dict[str, Any]],
    method: str,
    path: str,
) -> None:
    real_id = resident[2]["self"]["id"]
    answer = reviewer.client.open(path.format(id=real_id), method=method, headers=reviewer.auth)
    assert answer.status_code == 404
    assert real_id not in json.dumps(reviewer.get("/api/v1/results").get_json())


def test_a_real_id_number_typed_by_a_reviewer_stays_in_the_sandbox(
    reviewer: ReviewerApp, resident: tuple[MiniProgramUser, str, dict[str, Any]], review_app: Flask
) -> None:
    user, number, me = resident
    declared = reviewer.client.put(
        "/api/v1/me/profile",
        json={"name": "王真实", "id_type": "cn_id", "id_number": number},
        headers=reviewer.auth,
    )
    assert declared.status_code == 200, declared.get_json()
    assert declared.get_json()["id"] != me["self"]["id"]
    added = reviewer.client.post(
        "/api/v1/me/dependents",
        json={"name": "王真实", "id_type": "cn_id", "id_number": number, "unable_to_apply": True},
        headers=reviewer.auth,
    )
    assert added.status_code in (200, 201, 409), added.get_json()
    if added.status_code != 409:  # a second person of the sandbox, never a link request
        assert added.get_json()["status"] == "linked"
    # The real person's record is untouched: no new holder, no request, no notice.
    now = user.client.get("/api/v1/me", headers=user.auth).get_json()
    assert now["holders"] == []
    assert now["self"] == me["self"]
    assert now.get("link_requests", []) == []
    assert now.get("notices", []) == []
    with committed(review_app) as session:
        real = session.scalars(select(Resident).where(Resident.public_id == me["self"]["id"])).one()
        assert not real.synthetic
        sandbox = session.scalars(select(Resident).where(Resident.synthetic.is_(True))).all()
    assert all(r.id_index != real.id_index for r in sandbox)


def test_a_sandbox_number_cannot_be_declared_by_a_real_resident(
    wechat_user: MiniProgramUser,
) -> None:
    from datetime import date

    assert wechat_user.login().status_code == 200
    refused = wechat_user.declare("试试", reserved_id_number(date(1990, 1, 1)))
    assert refused.status_code == 422
    assert refused.get_json()["code"] == "invalid_id_number"


def test_a_sampling_site_answers_a_synthetic_code_invalid(
    review_app: Flask, reviewer: ReviewerApp
) -> None:
    me = reviewer.get("/api/v1/me").get_json()
    token = reviewer.get(f"/api/v1/residents/{me['self']['id']}/code").get_json()["token"]
    member = make_staff(review_app, make_site(review_app))
    make_round(review_app)
    staff = StaffClient(review_app.test_client(), member.username)
    assert staff.login().status_code == 200
    (answer,) = staff.scan_answers(scan_item(token, "T-REVIEW-1"))
    assert answer["status"] == "invalid"
    assert "person" not in answer or answer["person"] is None
    with committed(review_app) as session:
        assert session.scalar(select(func.count()).select_from(Sampling)) == 0
        staff_events = session.scalars(
            select(AuditEvent).where(AuditEvent.actor_kind == "staff")
        ).all()
    assert staff_events == []


# --- accounts -----------------------------------------------------------------------------------


def test_account_create_prints_a_password_once_and_an_entry_that_accepts_it() -> None:
    from click.testing import CliRunner

    ran = CliRunner().invoke(review_cli, ["account", "create", "--name", "alipay-review"])
    assert ran.exit_code == 0, ran.output
    password = ran.output.split("(shown once): ")[1].split()[0]
    raw = ran.output.split("MINIAPP_REVIEW__ACCOUNTS='")[1].rsplit("'", 1)[0]
    reviewers = parse_reviewers(raw)
    assert check_password(reviewers, "alipay-review", password)
    assert not check_password(reviewers, "alipay-review", password + "x")
    assert password not in raw


def test_production_refuses_the_demo_reviewer() -> None:
    from miniapp_api.review.accounts import DEMO_PASSWORD, DEMO_REVIEWER
    from miniapp_api.security.passwords import HASHER

    demo = Flask("demo")
    entry = {"name": DEMO_REVIEWER, "password_hash": HASHER.hash(DEMO_PASSWORD)}
    demo.config["REVIEW"] = {"ACCOUNTS": json.dumps([entry])}
    with pytest.raises(ConfigurationError, match="demo reviewer"):
        install_reviewers(demo, production=True)
    assert install_reviewers(demo, production=False) == {
        DEMO_REVIEWER: Reviewer(DEMO_REVIEWER, entry["password_hash"])
    }
    renamed = {"name": "renamed", "password_hash": entry["password_hash"]}
    demo.config["REVIEW"] = {"ACCOUNTS": [renamed]}
    with pytest.raises(ConfigurationError, match="demo reviewer"):
        install_reviewers(demo, production=True)


# --- every screen works, inside the sandbox ---------------------------------------------------


def test_the_platform_calls_of_the_screens_work_on_the_sandbox_channel(
    reviewer: ReviewerApp,
) -> None:
    auth = reviewer.auth
    phone = reviewer.client.post("/api/v1/me/phone", json={"code": "anything"}, headers=auth)
    assert phone.status_code == 200, phone.get_json()
    assert phone.get_json()["phone_masked"].startswith("100")

    person = {"name": "审核自报", "id_type": "cn_id", "id_number": cn_id("19800101")}
    started = reviewer.client.post("/api/v1/me/real-name", json=person, headers=auth)
    assert started.status_code == 200, started.get_json()
    proof = {"certify_id": started.get_json()["certify_id"]}
    declared = reviewer.client.put(
        "/api/v1/me/profile",
        json={**person, "real_name_proof": proof},
        headers=auth,
    )
    assert declared.status_code == 200, declared.get_json()
    assert declared.get_json()["verified"] is True

    subscribed = reviewer.client.post(
        "/api/v1/me/subscriptions", json={"accepted": ["any-template"]}, headers=auth
    )
    assert subscribed.status_code == 200, subscribed.get_json()
    history = reviewer.get("/api/v1/results/history")
    assert history.status_code == 200
    assert len(history.get_json()["residents"]) == 3


def test_a_reviewer_exports_and_deletes_the_sandbox_and_the_next_login_starts_afresh(
    review_app: Flask, reviewer: ReviewerApp
) -> None:
    exported = reviewer.get("/api/v1/me/export")
    assert exported.status_code == 200
    numbers = [r["id_number"] for r in exported.get_json()["residents"]]
    assert len(numbers) == 3
    assert all(is_reserved(n) for n in numbers)

    deleted = reviewer.client.delete(
        "/api/v1/me", json={"confirm": "DELETE"}, headers=reviewer.auth
    )
    assert deleted.status_code == 200, deleted.get_json()
    assert deleted.get_json()["residents_removed"] == 3
    assert reviewer.get("/api/v1/me").status_code == 401
    with committed(review_app) as session:
        assert session.scalar(select(func.count()).select_from(Resident)) == 0

    again = ReviewerApp(review_app.test_client())
    assert again.login().status_code == 200
    assert len(again.get("/api/v1/me").get_json()["dependents"]) == 2


def test_a_reviewer_login_is_refused_503_while_every_argon2_slot_is_taken(
    review_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    from miniapp_api.security import passwords

    monkeypatch.setattr(passwords, "WAIT_SECONDS", 0.2)
    held = [passwords._checks.acquire(timeout=1) for _ in range(passwords.CONCURRENT_CHECKS)]
    try:
        busy = ReviewerApp(review_app.test_client()).login()
    finally:
        for taken in held:
            if taken:
                passwords._checks.release()
    assert all(held)
    assert busy.status_code == 503
    assert busy.get_json()["detail"]["reason"] == "local_concurrency"
    assert "Retry-After" in busy.headers
