"""Emulated alipay API (to be filled in)."""

from __future__ import annotations

from flask import Blueprint

from channels.emulator.config import EmulatorConfig
from channels.emulator.state import EmulatorState


def blueprint(state: EmulatorState, config: EmulatorConfig) -> Blueprint:
    return Blueprint("emulator_alipay", __name__)
