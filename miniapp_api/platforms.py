"""Build the platform adapters from settings: real hosts or the emulator is only a URL."""

from __future__ import annotations

import redis

from channels.alipay import AlipayChannel
from channels.base import LoginChannel, Platform
from channels.wechat import WechatChannel
from miniapp_api.settings import Settings


def build_channels(settings: Settings, client: redis.Redis) -> dict[Platform, LoginChannel]:
    channels: dict[Platform, LoginChannel] = {}
    if settings.wechat is not None:
        w = settings.wechat
        channels[Platform.WECHAT] = WechatChannel(
            w.app_id,
            w.app_secret,
            w.api_base_url,
            client,
            timeout=w.timeout,
            miniprogram_state=settings.notify.miniprogram_state,
        )
    if settings.alipay is not None:
        a = settings.alipay
        channels[Platform.ALIPAY] = AlipayChannel(
            a.app_id,
            a.app_private_key,
            a.alipay_public_key,
            a.aes_key,
            a.gateway_url,
            timeout=a.timeout,
        )
    return channels
