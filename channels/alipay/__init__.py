"""Alipay mini-program login, phone numbers and messages (``alipay-sdk-python``)."""

from channels.alipay.adapter import AlipayChannel

__all__ = ["AlipayChannel"]
