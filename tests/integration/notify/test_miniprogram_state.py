"""``[NOTIFY] MINIPROGRAM_STATE``: the WeChat build a subscribe message opens, sent with every
WeChat push (``miniprogram_state`` of subscribeMessage.send)."""

from __future__ import annotations

import pytest
import redis

from channels.base import ChannelUnavailable
from channels.wechat import WechatChannel
from miniapp_api.db import utcnow
from miniapp_api.notify.worker import PushWorker
from miniapp_api.settings import ConfigurationError, NotifySettings
from miniapp_api.wiring import wiring_of
from tests.conftest import PlatformKeys
from tests.integration.notify.conftest import EmulatorInbox, Outbox
from tests.support.apps import MakeApp


def test_messages_open_the_released_build_by_default(
    worker: PushWorker, outbox: Outbox, inbox: EmulatorInbox
) -> None:
    queued, stats = outbox.push()

    assert stats.sent == 1
    [message] = inbox.to(queued.subject)
    assert message["miniprogram_state"] == "formal"


def test_a_trial_deployment_pushes_messages_that_open_the_trial_build(
    make_app: MakeApp, settings: NotifySettings, outbox: Outbox, inbox: EmulatorInbox
) -> None:
    app = make_app(sections={"NOTIFY": {"MINIPROGRAM_STATE": "trial"}})
    wire = wiring_of(app)
    assert wire.settings.notify.miniprogram_state == "trial"
    queued = outbox.queue()

    stats = PushWorker(wire.db, wire.channels, settings).run_once(utcnow())

    assert stats.sent == 1
    [message] = inbox.to(queued.subject)
    assert message["miniprogram_state"] == "trial"


def test_a_build_wechat_does_not_know_stops_the_start(make_app: MakeApp) -> None:
    with pytest.raises(ConfigurationError, match="MINIAPP_NOTIFY__MINIPROGRAM_STATE"):
        make_app(sections={"NOTIFY": {"MINIPROGRAM_STATE": "beta"}})


def test_the_emulator_refuses_a_build_wechat_does_not_know(
    platform_keys: PlatformKeys, inbox: EmulatorInbox, redis_client: redis.Redis
) -> None:
    """As WeChat does (47003): so the check above is not the only thing between a typo and a
    push that never arrives."""
    channel = WechatChannel(
        platform_keys.wechat_app_id,
        platform_keys.wechat_app_secret,
        inbox.base_url,
        redis_client,
        1.0,
        miniprogram_state="beta",
    )

    with pytest.raises(ChannelUnavailable) as refused:
        channel.send_message("o-anyone", "tpl", {"thing1": "x"}, "pages/results/index")

    assert refused.value.platform_code == 47003
