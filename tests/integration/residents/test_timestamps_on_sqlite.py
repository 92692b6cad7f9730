"""Timestamps in answers carry their UTC offset (RFC 3339 ``date-time``, as /openapi.json
says) on the embedded default too, where SQLite hands them back without one."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Flask

from channels.emulator import RunningEmulator
from tests.support.ids import cn_id
from tests.support.phones import EmulatorPhone
from tests.support.residents import MiniProgramUser


def offset_of(value: str) -> timedelta | None:
    return datetime.fromisoformat(value).utcoffset()


def test_timestamps_read_back_from_sqlite_carry_their_offset(
    embedded_app: Flask, emulator: RunningEmulator
) -> None:
    user = MiniProgramUser(embedded_app.test_client(), EmulatorPhone(emulator.base_url), "wechat")
    assert user.register("张三", cn_id()).status_code == 200
    child = user.add_dependent("王小明", cn_id(birth="20180101"), guardian_consent=True)
    assert child.status_code == 201, child.get_json()

    me = user.me()
    consent = me["consents"][0]
    assert offset_of(consent["given_at"]) == timedelta(0)
    code = user.client.get(f"/api/v1/residents/{me['self']['id']}/code", headers=user.auth)
    assert offset_of(code.get_json()["expires_at"]) == timedelta(0)
