"""The rows the result pipeline writes (``results.pipeline.fan_out``) are what the worker sends."""

from __future__ import annotations

from collections.abc import Mapping

from channels.base import LoginChannel, Platform
from miniapp_api.db import Database, utcnow
from miniapp_api.notify.models import Subscription
from miniapp_api.notify.worker import PushWorker
from miniapp_api.residents.models import AccountResident
from miniapp_api.results.models import TubeResult
from miniapp_api.results.pipeline import fan_out
from miniapp_api.sampling.models import Lab
from miniapp_api.settings import NotifySettings
from tests.conftest import PlatformKeys
from tests.integration.notify.conftest import EmulatorInbox
from tests.integration.notify.factories import (
    ALIPAY_TEMPLATE,
    TESTED_AT,
    WECHAT_TEMPLATE,
    make_account,
    make_person_result,
)


def test_each_account_holding_the_resident_gets_the_result_once(
    db: Database,
    channels: Mapping[Platform, LoginChannel],
    settings: NotifySettings,
    inbox: EmulatorInbox,
    platform_keys: PlatformKeys,
) -> None:
    with db.session() as session, session.begin():
        result = make_person_result(session, state="positive")
        on_wechat = make_account(session, "wechat", platform_keys.wechat_app_id)
        on_alipay = make_account(session, "alipay", platform_keys.alipay_app_id)
        for account, template in ((on_wechat, WECHAT_TEMPLATE), (on_alipay, ALIPAY_TEMPLATE)):
            session.add(
                AccountResident(
                    account_id=account.id, resident_id=result.resident_id, relation="self"
                )
            )
            session.add(Subscription(account_id=account.id, template_id=template, remaining=1))
        lab = Lab(lab_id="lab_contract", name="Contract lab", secret_enc=b"-")
        session.add(lab)
        session.flush()
        session.add(
            TubeResult(
                tube_id=result.tube_id, lab_id=lab.id, result="positive", tested_at=TESTED_AT
            )
        )
        fanned = fan_out(session, [result.tube_id], version=0, now=utcnow())
        assert fanned.people == {result.tube_id: 1}

    assert PushWorker(db, channels, settings).run_once(utcnow()).sent == 2
    assert PushWorker(db, channels, settings).run_once(utcnow()).claimed == 0

    [wechat] = inbox.to(on_wechat.subject)
    [alipay] = inbox.to(on_alipay.subject)
    assert wechat["data"]["phrase2"] == {"value": "阳性"}
    assert wechat["data"]["thing1"] == {"value": "张*"}
    assert alipay["data"]["keyword2"] == "阳性"
