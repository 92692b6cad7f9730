"""The rows result ingest writes (``notify.outbox.enqueue_results``) are what the worker sends."""

from __future__ import annotations

from collections.abc import Mapping

from channels.base import LoginChannel, Platform
from miniapp_api.db import Database, utcnow
from miniapp_api.notify.models import Subscription
from miniapp_api.notify.outbox import enqueue_results
from miniapp_api.notify.worker import run_once
from miniapp_api.residents.models import AccountResident
from miniapp_api.settings import NotifySettings
from tests.conftest import PlatformKeys
from tests.integration.notify.conftest import EmulatorInbox
from tests.integration.notify.factories import (
    ALIPAY_TEMPLATE,
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
        session.flush()
        enqueue_results(session, [result.tube_id], 0, utcnow())

    assert run_once(db, channels, settings, utcnow()).sent == 2
    assert run_once(db, channels, settings, utcnow()).claimed == 0

    [wechat] = inbox.to(on_wechat.subject)
    [alipay] = inbox.to(on_alipay.subject)
    assert wechat["data"]["phrase2"] == {"value": "阳性"}
    assert wechat["data"]["thing1"] == {"value": "张*"}
    assert alipay["data"]["keyword2"] == "阳性"
