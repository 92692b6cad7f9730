"""A local stand-in for the WeChat and Alipay HTTP APIs, for the real SDKs (README, "Tests")."""

from channels.emulator.app import create_emulator
from channels.emulator.config import AlipayApp, EmulatorConfig
from channels.emulator.server import RunningEmulator, start_in_thread

__all__ = ["AlipayApp", "EmulatorConfig", "RunningEmulator", "create_emulator", "start_in_thread"]
