"""The worker pushes notices (a link request, its answer, ...) with the notice template, once."""

from __future__ import annotations

import dataclasses
import re
import threading
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from miniapp_api.db import Database, utcnow
from miniapp_api.notify.models import Subscription
from miniapp_api.notify.notices import claim_next
from miniapp_api.notify.retry import MAX_BACKOFF_SECONDS
from miniapp_api.notify.service import notice_template_ids
from miniapp_api.notify.worker import PushWorker, Stats
from miniapp_api.residents.models import Account, Notice
from miniapp_api.settings import NotifySettings
from tests.integration.notify.conftest import EmulatorInbox
from tests.support.factories import ALIPAY_TEMPLATE, WECHAT_TEMPLATE
from tests.support.ids import cn_id
from tests.support.phones import EmulatorPhone
from tests.support.residents import MiniProgramUser

WECHAT_NOTICE = "tpl-wx-notice-0001"
ALIPAY_NOTICE = "tpl-ali-notice-0001"
NOTICE_TEMPLATE = {"wechat": WECHAT_NOTICE, "alipay": ALIPAY_NOTICE}
RESULT_TEMPLATE = {"wechat": WECHAT_TEMPLATE, "alipay": ALIPAY_TEMPLATE}
BEIJING_TIME = re.compile(r"\d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2}")
LATER = timedelta(seconds=MAX_BACKOFF_SECONDS + 1)  # past any retry's backoff


@pytest.fixture
def settings() -> NotifySettings:
    """Both templates of both platforms configured."""
    return NotifySettings(
        wechat_template_id=WECHAT_TEMPLATE,
        alipay_template_id=ALIPAY_TEMPLATE,
        wechat_notice_template_id=WECHAT_NOTICE,
        alipay_notice_template_id=ALIPAY_NOTICE,
        max_attempts=3,
        backoff_base_seconds=2.0,
        batch_size=10,
    )


def user(client: FlaskClient, phone: EmulatorPhone, platform: str) -> MiniProgramUser:
    found = MiniProgramUser(client, phone, platform)
    assert found.login().status_code == 200
    return found


def accept(who: MiniProgramUser, *templates: str) -> dict[str, object]:
    response = who.client.post(
        "/api/v1/me/subscriptions", json={"accepted": list(templates)}, headers=who.auth
    )
    assert response.status_code == 200, response.get_json()
    body: dict[str, object] = response.get_json()
    return body


def ask_to_hold_grandma_of(holder: MiniProgramUser, asker: MiniProgramUser) -> None:
    """``holder`` holds a grandma; ``asker`` adds her too (same name): the holder is asked."""
    grandma = cn_id(birth="19480101")
    assert holder.add_dependent("李秀英", grandma).get_json()["status"] == "linked"
    assert asker.add_dependent("李秀英", grandma).get_json()["status"] == "pending"


def notices_of(db: Database, who: MiniProgramUser) -> list[tuple[str, str]]:
    """(kind, push_status) of each notice of ``who``, oldest first."""
    with db.session() as session:
        rows = session.execute(
            select(Notice.kind, Notice.push_status)
            .join(Account, Account.id == Notice.account_id)
            .where(Account.subject == who.subject)
            .order_by(Notice.id)
        ).all()
    return [(kind, status) for kind, status in rows]


def remaining(db: Database, who: MiniProgramUser, template_id: str) -> int | None:
    with db.session() as session:
        return session.scalar(
            select(Subscription.remaining)
            .join(Account, Account.id == Subscription.account_id)
            .where(Account.subject == who.subject, Subscription.template_id == template_id)
        )


@pytest.mark.parametrize("platform", ["wechat", "alipay"])
def test_a_link_request_is_pushed_to_the_holder_with_the_notice_template(
    worker: PushWorker,
    db: Database,
    client: FlaskClient,
    phone: EmulatorPhone,
    inbox: EmulatorInbox,
    platform: str,
) -> None:
    holder = user(client, phone, platform)
    asker = user(client, phone, "alipay" if platform == "wechat" else "wechat")
    accept(holder, NOTICE_TEMPLATE[platform])
    ask_to_hold_grandma_of(holder, asker)

    stats = worker.run_once(utcnow())

    assert (stats.notices_sent, stats.claimed) == (1, 0)
    [message] = inbox.to(holder.subject or "")
    assert message["template_id"] == NOTICE_TEMPLATE[platform]
    assert message["page"] == "pages/family/index"
    if platform == "wechat":
        data = {key: value["value"] for key, value in message["data"].items()}
        person, what, at = data.pop("thing1"), data.pop("phrase2"), data.pop("time3")
    else:
        data = dict(message["data"])
        person, what, at = data.pop("keyword1"), data.pop("keyword2"), data.pop("keyword3")
    assert (person, what, data) == ("李*英", "申请关联", {})
    assert BEIJING_TIME.fullmatch(at)
    assert notices_of(db, holder) == [("link_requested", "sent")]
    assert remaining(db, holder, NOTICE_TEMPLATE[platform]) == 0

    assert worker.run_once(utcnow() + LATER).notices_sent == 0
    assert len(inbox.to(holder.subject or "")) == 1


def test_the_answer_is_pushed_to_the_requester(
    worker: PushWorker,
    db: Database,
    client: FlaskClient,
    phone: EmulatorPhone,
    inbox: EmulatorInbox,
) -> None:
    holder, asker = user(client, phone, "wechat"), user(client, phone, "wechat")
    accept(asker, WECHAT_NOTICE)
    ask_to_hold_grandma_of(holder, asker)
    request_id = holder.me()["link_requests"][0]["id"]
    declined = holder.client.post(
        f"/api/v1/me/link-requests/{request_id}/decline", headers=holder.auth
    )
    assert declined.status_code == 204

    stats = worker.run_once(utcnow())

    [message] = inbox.to(asker.subject or "")
    assert message["data"]["phrase2"] == {"value": "已拒绝"}
    assert notices_of(db, asker) == [("link_declined", "sent")]
    # The holder accepted nothing: their notice is not pushed.
    assert notices_of(db, holder) == [("link_requested", "no_subscription")]
    assert (stats.notices_sent, stats.notices_no_subscription) == (1, 1)


def test_without_an_acceptance_of_the_notice_template_nothing_is_sent(
    worker: PushWorker,
    db: Database,
    client: FlaskClient,
    phone: EmulatorPhone,
    inbox: EmulatorInbox,
) -> None:
    holder, asker = user(client, phone, "wechat"), user(client, phone, "alipay")
    accept(holder, WECHAT_TEMPLATE)  # results only: that acceptance is not spent on a notice
    ask_to_hold_grandma_of(holder, asker)

    assert worker.run_once(utcnow()).notices_no_subscription == 1

    assert inbox.to(holder.subject or "") == []
    assert notices_of(db, holder) == [("link_requested", "no_subscription")]
    assert remaining(db, holder, WECHAT_TEMPLATE) == 1
    accept(holder, WECHAT_NOTICE)  # accepted later: the notice is not pushed then
    assert worker.run_once(utcnow() + LATER).notices_sent == 0
    assert inbox.to(holder.subject or "") == []


def test_without_a_notice_template_notices_are_skipped(
    worker: PushWorker,
    db: Database,
    client: FlaskClient,
    phone: EmulatorPhone,
    inbox: EmulatorInbox,
) -> None:
    holder, asker = user(client, phone, "wechat"), user(client, phone, "alipay")
    accept(holder, WECHAT_NOTICE)
    ask_to_hold_grandma_of(holder, asker)
    results_only = dataclasses.replace(
        worker.settings, wechat_notice_template_id="", alipay_notice_template_id=""
    )

    stats = dataclasses.replace(worker, settings=results_only).run_once(utcnow())

    assert stats.notices_skipped == 1
    assert notices_of(db, holder) == [("link_requested", "skipped")]
    assert worker.run_once(utcnow() + LATER).notices_sent == 0  # not sent once configured
    assert inbox.to(holder.subject or "") == []
    assert remaining(db, holder, WECHAT_NOTICE) == 1


def test_a_refused_subscription_marks_the_notice_refused(
    worker: PushWorker,
    db: Database,
    client: FlaskClient,
    phone: EmulatorPhone,
    inbox: EmulatorInbox,
) -> None:
    holder, asker = user(client, phone, "wechat"), user(client, phone, "alipay")
    accept(holder, WECHAT_NOTICE)
    accept(holder, WECHAT_NOTICE)
    ask_to_hold_grandma_of(holder, asker)
    inbox.refuse(holder.subject or "")  # 43101: the user has no acceptance left

    assert worker.run_once(utcnow()).notices_refused == 1

    assert inbox.to(holder.subject or "") == []
    assert notices_of(db, holder) == [("link_requested", "refused")]
    assert remaining(db, holder, WECHAT_NOTICE) == 0  # the platform's word is taken


def test_a_notice_the_platform_did_not_take_is_retried_after_a_backoff(
    worker: PushWorker,
    db: Database,
    client: FlaskClient,
    phone: EmulatorPhone,
    inbox: EmulatorInbox,
) -> None:
    holder, asker = user(client, phone, "wechat"), user(client, phone, "alipay")
    accept(holder, WECHAT_NOTICE)
    ask_to_hold_grandma_of(holder, asker)
    inbox.fault("wechat", "subscribe_send", errcode=45011)
    now = utcnow()

    assert worker.run_once(now).notices_retried == 1
    assert notices_of(db, holder) == [("link_requested", "pending")]
    assert remaining(db, holder, WECHAT_NOTICE) == 1  # not delivered: the acceptance is back
    calls = inbox.wechat_sends()
    assert worker.run_once(now + timedelta(seconds=1)).notices_sent == 0  # backing off
    assert inbox.wechat_sends() == calls

    inbox.clear_fault("wechat", "subscribe_send")
    assert worker.run_once(now + timedelta(seconds=10)).notices_sent == 1
    assert len(inbox.to(holder.subject or "")) == 1
    assert notices_of(db, holder) == [("link_requested", "sent")]


def test_after_max_attempts_the_notice_fails(
    worker: PushWorker,
    db: Database,
    client: FlaskClient,
    phone: EmulatorPhone,
    inbox: EmulatorInbox,
) -> None:
    holder, asker = user(client, phone, "wechat"), user(client, phone, "alipay")
    accept(holder, WECHAT_NOTICE)
    ask_to_hold_grandma_of(holder, asker)
    when = utcnow()

    inbox.fault("wechat", "subscribe_send", errcode=45011)
    for _ in range(worker.settings.max_attempts):
        worker.run_once(when)
        when += LATER

    assert notices_of(db, holder) == [("link_requested", "failed")]
    assert remaining(db, holder, WECHAT_NOTICE) == 1
    inbox.clear_fault("wechat", "subscribe_send")
    assert worker.run_once(when).notices_sent == 0
    assert inbox.to(holder.subject or "") == []


def test_a_notice_claimed_by_a_worker_that_died_is_never_sent(
    worker: PushWorker,
    db: Database,
    client: FlaskClient,
    phone: EmulatorPhone,
    inbox: EmulatorInbox,
) -> None:
    holder, asker = user(client, phone, "wechat"), user(client, phone, "alipay")
    accept(holder, WECHAT_NOTICE)
    accept(holder, WECHAT_NOTICE)
    ask_to_hold_grandma_of(holder, asker)
    templates = notice_template_ids(worker.settings)

    claimed = claim_next(db, worker.channels, templates, skip=[], now=utcnow())
    # ... and the worker dies before (or while) calling the platform.

    assert claimed is not None
    assert not isinstance(claimed, str)
    assert claim_next(db, worker.channels, templates, skip=[], now=utcnow()) is None
    assert worker.run_once(utcnow() + timedelta(days=1)).notices_sent == 0
    assert inbox.to(holder.subject or "") == []
    assert notices_of(db, holder) == [("link_requested", "sending")]
    assert remaining(db, holder, WECHAT_NOTICE) == 1  # one spent on the claim


def test_a_notice_another_worker_is_claiming_is_skipped(
    worker: PushWorker,
    db: Database,
    client: FlaskClient,
    phone: EmulatorPhone,
    inbox: EmulatorInbox,
) -> None:
    holder, asker = user(client, phone, "wechat"), user(client, phone, "alipay")
    accept(holder, WECHAT_NOTICE)
    ask_to_hold_grandma_of(holder, asker)

    with db.session() as other, other.begin():  # another worker, inside its claim
        other.execute(select(Notice.id).with_for_update())
        stats = worker.run_once(utcnow())

    assert dataclasses.astuple(stats) == dataclasses.astuple(Stats())
    assert notices_of(db, holder) == [("link_requested", "pending")]
    assert worker.run_once(utcnow()).notices_sent == 1
    assert len(inbox.to(holder.subject or "")) == 1


@pytest.fixture
def holders(client: FlaskClient, phone: EmulatorPhone) -> list[MiniProgramUser]:
    """Six holders, each asked about their grandma, each with two acceptances (so that a
    notice sent twice would be delivered twice)."""
    asker = user(client, phone, "alipay")
    found = []
    for index in range(6):
        holder = user(client, phone, "wechat" if index % 2 else "alipay")
        accept(holder, NOTICE_TEMPLATE[holder.platform])
        accept(holder, NOTICE_TEMPLATE[holder.platform])
        ask_to_hold_grandma_of(holder, asker)
        found.append(holder)
    return found


def test_two_workers_never_send_one_notice_twice(
    worker: PushWorker,
    db: Database,
    postgres_url: str,
    inbox: EmulatorInbox,
    holders: list[MiniProgramUser],
) -> None:
    start = threading.Barrier(2)
    sent: list[int] = []
    errors: list[BaseException] = []

    def work() -> None:
        own_db = Database(postgres_url, pool_size=2)
        own = dataclasses.replace(worker, db=own_db)
        try:
            start.wait()
            for _ in range(3):
                sent.append(own.run_once(utcnow()).notices_sent)
        except BaseException as exc:  # surfaced by the test thread below
            errors.append(exc)
        finally:
            own_db.dispose()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert sum(sent) == len(holders)
    for holder in holders:
        assert len(inbox.to(holder.subject or "")) == 1
        assert notices_of(db, holder) == [("link_requested", "sent")]
        assert remaining(db, holder, NOTICE_TEMPLATE[holder.platform]) == 1


def test_the_notice_template_is_accepted_beside_the_result_one(
    worker: PushWorker, client: FlaskClient, phone: EmulatorPhone
) -> None:
    wechat, alipay = user(client, phone, "wechat"), user(client, phone, "alipay")

    assert accept(wechat, WECHAT_TEMPLATE, WECHAT_NOTICE, ALIPAY_NOTICE) == {
        "subscriptions": [
            {"template_id": WECHAT_TEMPLATE, "kind": "result", "remaining": 1},
            {"template_id": WECHAT_NOTICE, "kind": "notice", "remaining": 1},
        ],
        "counted": sorted([WECHAT_NOTICE, WECHAT_TEMPLATE]),
        "ignored": [ALIPAY_NOTICE],
    }
    assert accept(alipay, WECHAT_NOTICE, ALIPAY_NOTICE) == {
        "subscriptions": [
            {"template_id": ALIPAY_TEMPLATE, "kind": "result", "remaining": 0},
            {"template_id": ALIPAY_NOTICE, "kind": "notice", "remaining": 1},
        ],
        "counted": [ALIPAY_NOTICE],
        "ignored": [WECHAT_NOTICE],
    }
