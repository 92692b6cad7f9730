"""``POST /api/v1/me/subscriptions``: what the resident accepted, counted per template."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import select

from miniapp_api.db import Database, utcnow
from miniapp_api.notify.service import MAX_REMAINING
from miniapp_api.notify.worker import PushWorker
from miniapp_api.residents.models import Account
from miniapp_api.wiring import Wiring
from tests.integration.notify.conftest import EmulatorInbox, Outbox
from tests.support.factories import ALIPAY_TEMPLATE, WECHAT_TEMPLATE
from tests.support.residents import MiniProgramUser

PATH = "/api/v1/me/subscriptions"


def accept(user: MiniProgramUser, *templates: str) -> dict[str, object]:
    response = user.client.post(PATH, json={"accepted": list(templates)}, headers=user.auth)
    assert response.status_code == 200, response.get_json()
    body: dict[str, object] = response.get_json()
    return body


def test_each_accept_adds_one_message(wire: Wiring, wechat_user: MiniProgramUser) -> None:
    wechat_user.login()

    accept(wechat_user, WECHAT_TEMPLATE)
    body = accept(wechat_user, WECHAT_TEMPLATE)

    assert body == {
        "subscriptions": [{"template_id": WECHAT_TEMPLATE, "remaining": 2}],
        "ignored": [],
    }


def test_accepts_are_capped(wire: Wiring, wechat_user: MiniProgramUser) -> None:
    wechat_user.login()
    for _ in range(MAX_REMAINING + 3):
        body = accept(wechat_user, WECHAT_TEMPLATE)
    assert body["subscriptions"] == [{"template_id": WECHAT_TEMPLATE, "remaining": MAX_REMAINING}]


def test_templates_we_do_not_send_are_ignored(wire: Wiring, alipay_user: MiniProgramUser) -> None:
    alipay_user.login()

    body = accept(alipay_user, "someone-elses-template", WECHAT_TEMPLATE, ALIPAY_TEMPLATE)

    assert body == {
        "subscriptions": [{"template_id": ALIPAY_TEMPLATE, "remaining": 1}],
        "ignored": ["someone-elses-template", WECHAT_TEMPLATE],
    }


def test_a_template_listed_twice_in_one_report_counts_once(
    wire: Wiring, wechat_user: MiniProgramUser
) -> None:
    wechat_user.login()
    body = accept(wechat_user, WECHAT_TEMPLATE, WECHAT_TEMPLATE)
    assert body["subscriptions"] == [{"template_id": WECHAT_TEMPLATE, "remaining": 1}]


def test_reporting_needs_a_session(wire: Wiring, client: FlaskClient) -> None:
    response = client.post(PATH, json={"accepted": [WECHAT_TEMPLATE]})
    assert response.status_code == 401
    assert response.get_json()["code"] == "unauthorized"


def test_a_malformed_report_is_refused(wire: Wiring, wechat_user: MiniProgramUser) -> None:
    wechat_user.login()
    bodies: list[dict[str, object]] = [
        {"accepted": WECHAT_TEMPLATE},
        {"accepted": [""]},
        {"accept": []},
    ]
    for body in bodies:
        response = wechat_user.client.post(PATH, json=body, headers=wechat_user.auth)
        assert response.status_code == 422, body
        assert response.get_json()["code"] == "validation_failed"


def test_the_route_is_described_as_normal_traffic(client: FlaskClient) -> None:
    doc = client.get("/openapi.json").get_json()
    operation = doc["paths"][PATH]["post"]
    assert operation["x-traffic-class"] == "normal"
    assert operation["security"] == [{"bearer": []}]
    assert "SubscriptionsIn" in doc["components"]["schemas"]


def test_a_resident_who_accepted_gets_the_result_pushed_once(
    wire: Wiring,
    db: Database,
    worker: PushWorker,
    outbox: Outbox,
    wechat_user: MiniProgramUser,
    inbox: EmulatorInbox,
) -> None:
    """The whole path: login, accept in the mini-program, a result arrives, the worker runs."""
    wechat_user.login()
    accept(wechat_user, WECHAT_TEMPLATE)
    assert wechat_user.subject
    with db.session() as session:
        account = session.scalars(
            select(Account).where(Account.subject == wechat_user.subject)
        ).one()
    outbox.queue(account_id=account.id, state="retest_required")

    assert worker.run_once(utcnow()).sent == 1
    assert worker.run_once(utcnow()).claimed == 0

    [message] = inbox.to(wechat_user.subject)
    assert message["data"]["phrase2"] == {"value": "需复检"}
    assert accept(wechat_user)["subscriptions"] == [
        {"template_id": WECHAT_TEMPLATE, "remaining": 0}
    ]
