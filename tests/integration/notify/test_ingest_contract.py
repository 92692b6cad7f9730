"""The rows the result pipeline writes (``results.pipeline.fan_out``) are what the worker sends."""

from __future__ import annotations

from flask import Flask

from miniapp_api.db import Database, utcnow
from miniapp_api.notify.worker import PushWorker
from miniapp_api.residents.models import Relation
from miniapp_api.results.models import TubeResult
from miniapp_api.results.pipeline import fan_out
from tests.integration.notify.conftest import EmulatorInbox
from tests.support.factories import (
    ALIPAY_TEMPLATE,
    TESTED_AT,
    WECHAT_TEMPLATE,
    make_account,
    make_lab,
    make_person_result,
    make_resident,
)


def test_each_account_holding_the_resident_gets_the_result_once(
    app: Flask,
    db: Database,
    worker: PushWorker,
    inbox: EmulatorInbox,
    app_ids: dict[str, str],
) -> None:
    resident = make_resident(app, "张三")
    result = make_person_result(app, resident, state="positive")
    holds = [(resident, Relation.SELF)]
    on_wechat = make_account(app, holds, app_id=app_ids["wechat"], subscribed={WECHAT_TEMPLATE: 1})
    on_alipay = make_account(
        app, holds, platform="alipay", app_id=app_ids["alipay"], subscribed={ALIPAY_TEMPLATE: 1}
    )
    lab = make_lab(app)
    with db.session() as session, session.begin():
        session.add(
            TubeResult(
                tube_id=result.tube_id, lab_id=lab.id, result="positive", tested_at=TESTED_AT
            )
        )
        fanned = fan_out(session, [result.tube_id], version=0, now=utcnow())
        assert fanned.people == {result.tube_id: 1}

    assert worker.run_once(utcnow()).sent == 2
    assert worker.run_once(utcnow()).claimed == 0

    [wechat] = inbox.to(on_wechat.subject)
    [alipay] = inbox.to(on_alipay.subject)
    assert wechat["data"]["phrase2"] == {"value": "阳性"}
    assert wechat["data"]["thing1"] == {"value": "张*"}
    assert alipay["data"]["keyword2"] == "阳性"
