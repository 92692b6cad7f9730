"""``POST /api/v1/me/subscriptions``: what the resident accepted (ours, or each platform's raw
prompt result), counted per template; ``GET`` the same path: the accepts left."""

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
WECHAT_OK = "requestSubscribeMessage:ok"


def report(user: MiniProgramUser, body: dict[str, object]) -> dict[str, object]:
    response = user.client.post(PATH, json=body, headers=user.auth)
    assert response.status_code == 200, response.get_json()
    answer: dict[str, object] = response.get_json()
    return answer


def accept(user: MiniProgramUser, *templates: str) -> dict[str, object]:
    return report(user, {"accepted": list(templates)})


def held(user: MiniProgramUser) -> object:
    response = user.client.get(PATH, headers=user.auth)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["subscriptions"]


def result_template(template_id: str, remaining: int) -> dict[str, object]:
    return {"template_id": template_id, "kind": "result", "remaining": remaining}


def test_each_accept_adds_one_message(wire: Wiring, wechat_user: MiniProgramUser) -> None:
    wechat_user.login()

    accept(wechat_user, WECHAT_TEMPLATE)
    body = accept(wechat_user, WECHAT_TEMPLATE)

    assert body == {
        "subscriptions": [result_template(WECHAT_TEMPLATE, 2)],
        "counted": [WECHAT_TEMPLATE],
        "ignored": [],
    }


def test_accepts_are_capped(wire: Wiring, wechat_user: MiniProgramUser) -> None:
    wechat_user.login()
    for _ in range(MAX_REMAINING + 3):
        body = accept(wechat_user, WECHAT_TEMPLATE)
    assert body["subscriptions"] == [result_template(WECHAT_TEMPLATE, MAX_REMAINING)]


def test_templates_we_do_not_send_are_ignored(wire: Wiring, alipay_user: MiniProgramUser) -> None:
    alipay_user.login()

    body = accept(alipay_user, "someone-elses-template", WECHAT_TEMPLATE, ALIPAY_TEMPLATE)

    assert body == {
        "subscriptions": [result_template(ALIPAY_TEMPLATE, 1)],
        "counted": [ALIPAY_TEMPLATE],
        "ignored": ["someone-elses-template", WECHAT_TEMPLATE],
    }


def test_a_template_listed_twice_in_one_report_counts_once(
    wire: Wiring, wechat_user: MiniProgramUser
) -> None:
    wechat_user.login()
    body = accept(wechat_user, WECHAT_TEMPLATE, WECHAT_TEMPLATE)
    assert body["subscriptions"] == [result_template(WECHAT_TEMPLATE, 1)]


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
        {},
        # a template key without a platform's marker (errMsg, behavior, result)
        {WECHAT_TEMPLATE: "accept"},
        # ours and a raw result at once
        {"accepted": [WECHAT_TEMPLATE], "errMsg": WECHAT_OK},
        # a template's answer is a string
        {"errMsg": WECHAT_OK, WECHAT_TEMPLATE: ["accept"]},
        {"errMsg": WECHAT_OK, **{f"t{i}": "accept" for i in range(21)}},
        {"behavior": "subscribe", "result": {"subscribeEntityIds": ALIPAY_TEMPLATE}},
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
    assert held(wechat_user) == [result_template(WECHAT_TEMPLATE, 0)]


# --- each platform's raw prompt result, as the mini-program gets it ----------------------------


def test_wechat_raw_result_counts_the_accepted_templates_and_names_the_unknown(
    wire: Wiring, wechat_user: MiniProgramUser
) -> None:
    """``wx.requestSubscribeMessage``'s success object, posted as it is."""
    wechat_user.login()

    body = report(
        wechat_user,
        {"errMsg": WECHAT_OK, WECHAT_TEMPLATE: "accept", "tpl-not-ours": "accept"},
    )

    assert body == {
        "subscriptions": [result_template(WECHAT_TEMPLATE, 1)],
        "counted": [WECHAT_TEMPLATE],
        "ignored": ["tpl-not-ours"],
    }


def test_wechat_reject_ban_and_filter_add_nothing(
    wire: Wiring, wechat_user: MiniProgramUser
) -> None:
    wechat_user.login()
    for answer in ("reject", "ban", "filter"):
        body = report(wechat_user, {"errMsg": WECHAT_OK, WECHAT_TEMPLATE: answer})
        assert (body["counted"], body["ignored"]) == ([], []), answer
    assert held(wechat_user) == [result_template(WECHAT_TEMPLATE, 0)]


def test_wechat_accept_with_a_voice_reminder_is_an_accept(
    wire: Wiring, wechat_user: MiniProgramUser
) -> None:
    wechat_user.login()
    body = report(wechat_user, {"errMsg": WECHAT_OK, WECHAT_TEMPLATE: "acceptWithAudio"})
    assert body["subscriptions"] == [result_template(WECHAT_TEMPLATE, 1)]


def test_a_failed_wechat_prompt_accepts_nothing(wire: Wiring, wechat_user: MiniProgramUser) -> None:
    wechat_user.login()
    body = report(
        wechat_user,
        {
            "errMsg": "requestSubscribeMessage:fail cancel",
            "errCode": 20004,
            WECHAT_TEMPLATE: "accept",
        },
    )
    assert (body["counted"], body["subscriptions"]) == ([], [result_template(WECHAT_TEMPLATE, 0)])


def alipay_result(subscribed: list[str], rejected: list[str], **extra: object) -> dict[str, object]:
    """``my.requestSubscribeMessage``'s result after the prompt (deprecated fields included, as
    older clients still send them)."""
    return {
        "behavior": "subscribe",
        "keep": False,
        "refuse": False,
        "show": True,
        "success": True,
        "stat": "ok",
        "result": {
            "subscribeEntityIds": subscribed,
            "subscribedEntityIds": subscribed,
            "unsubscribedEntityIds": rejected,
            "currentSubscribedEntityIds": subscribed,
        },
        **{t: "accept" for t in subscribed},
        **{t: "reject" for t in rejected},
        **extra,
    }


def test_alipay_raw_result_counts_what_it_subscribed(
    wire: Wiring, alipay_user: MiniProgramUser
) -> None:
    alipay_user.login()

    body = report(alipay_user, alipay_result([ALIPAY_TEMPLATE], ["tpl-ali-other"]))

    assert body == {
        "subscriptions": [result_template(ALIPAY_TEMPLATE, 1)],
        "counted": [ALIPAY_TEMPLATE],
        "ignored": ["tpl-ali-other"],
    }


def test_alipay_result_list_is_believed_over_the_per_template_keys(
    wire: Wiring, alipay_user: MiniProgramUser
) -> None:
    """A silent prompt (the user chose "always keep") repeats the previous answer in the
    per-template keys; ``result.subscribeEntityIds`` says what this prompt subscribed."""
    alipay_user.login()
    silent = alipay_result([], [ALIPAY_TEMPLATE], show=False, keep=True)
    silent[ALIPAY_TEMPLATE] = "accept"

    assert report(alipay_user, silent)["counted"] == []
    assert held(alipay_user) == [result_template(ALIPAY_TEMPLATE, 0)]


def test_alipay_without_a_result_list_reads_the_per_template_keys(
    wire: Wiring, alipay_user: MiniProgramUser
) -> None:
    alipay_user.login()
    body = report(alipay_user, {"behavior": "subscribe", ALIPAY_TEMPLATE: "accept"})
    assert body["counted"] == [ALIPAY_TEMPLATE]


def test_a_cancelled_alipay_prompt_accepts_nothing(
    wire: Wiring, alipay_user: MiniProgramUser
) -> None:
    alipay_user.login()
    cancelled = {
        "behavior": "cancel",
        "errorCode": 11,
        "errorMessage": "用户取消订阅",
        "result": {"entityList": [ALIPAY_TEMPLATE]},
    }
    body = report(alipay_user, cancelled)
    assert (body["counted"], body["ignored"]) == ([], [])
    assert held(alipay_user) == [result_template(ALIPAY_TEMPLATE, 0)]


# --- GET: the accepts left ---------------------------------------------------------------------


def test_the_accepts_left_are_read_per_template_with_what_each_carries(
    wire: Wiring, wechat_user: MiniProgramUser
) -> None:
    wechat_user.login()
    assert held(wechat_user) == [result_template(WECHAT_TEMPLATE, 0)]

    accept(wechat_user, WECHAT_TEMPLATE)
    accept(wechat_user, WECHAT_TEMPLATE)

    assert held(wechat_user) == [result_template(WECHAT_TEMPLATE, 2)]


def test_reading_the_accepts_needs_a_session(wire: Wiring, client: FlaskClient) -> None:
    response = client.get(PATH)
    assert response.status_code == 401
    assert response.get_json()["code"] == "unauthorized"


def test_the_reading_route_is_described_as_sheddable(client: FlaskClient) -> None:
    doc = client.get("/openapi.json").get_json()
    operation = doc["paths"][PATH]["get"]
    assert operation["x-traffic-class"] == "sheddable"
    assert operation["security"] == [{"bearer": []}]
    assert "SubscriptionsHeld" in doc["components"]["schemas"]
    raw = doc["components"]["schemas"]["SubscriptionsIn"]
    assert {"accepted", "errMsg", "behavior", "result"} <= set(raw["properties"])
    assert "additionalProperties" in raw  # the template ids of a raw result


def test_a_raw_wechat_accept_pays_for_one_pushed_result(
    wire: Wiring,
    db: Database,
    worker: PushWorker,
    outbox: Outbox,
    wechat_user: MiniProgramUser,
    inbox: EmulatorInbox,
) -> None:
    """The whole path with the raw result: the push goes out once, then none is left."""
    wechat_user.login()
    report(wechat_user, {"errMsg": WECHAT_OK, WECHAT_TEMPLATE: "accept"})
    with db.session() as session:
        account = session.scalars(
            select(Account).where(Account.subject == wechat_user.subject)
        ).one()
    outbox.queue(account_id=account.id)

    assert worker.run_once(utcnow()).sent == 1
    assert len(inbox.to(wechat_user.subject or "")) == 1
    assert held(wechat_user) == [result_template(WECHAT_TEMPLATE, 0)]
