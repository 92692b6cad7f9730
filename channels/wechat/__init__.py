"""WeChat mini-program channel: wechatpy pointed at a configured host, errors as channel errors."""

from channels.wechat.adapter import WechatChannel
from channels.wechat.crypto import decrypt_user_data

__all__ = ["WechatChannel", "decrypt_user_data"]
