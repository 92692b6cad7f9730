"""The embedded default: SQLite, the in-process Redis stand-in, the real SDKs on the emulator."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from channels.emulator import RunningEmulator
from miniapp_api.migrate import upgrade
from tests.integration.ops.conftest import give_internal_bind
from tests.support.ids import cn_id
from tests.support.phones import EmulatorPhone
from tests.support.residents import MiniProgramUser


def test_federation_works_on_sqlite_and_the_stand_in(
    embedded_app: Flask, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = embedded_app.test_client()
    phone = EmulatorPhone(emulator.base_url)
    wechat = MiniProgramUser(client, phone, "wechat")
    alipay = MiniProgramUser(client, phone, "alipay")
    person = cn_id()
    for user in (wechat, alipay):
        assert user.register("张三", person).status_code == 200
    assert (
        wechat.add_dependent("王小明", cn_id(birth="20180101"), guardian_consent=True).status_code
        == 201
    )

    assert wechat.me()["self"]["id"] == alipay.me()["self"]["id"]
    internal = give_internal_bind(embedded_app, monkeypatch)
    ready = client.get("/readyz", environ_overrides=internal).get_json()
    assert ready["checks"] == {"database": "ok", "redis": "ok", "migrations": "ok"}


def test_the_embedded_migrations_round_trip(tmp_path: Path) -> None:
    from sqlalchemy import create_engine, inspect

    from miniapp_api.migrate import downgrade

    url = f"sqlite:///{tmp_path / 'round.db'}"
    upgrade(url)
    downgrade(url, "base")
    upgrade(url)
    engine = create_engine(url)
    assert {"accounts", "residents", "account_residents", "consents"} <= set(
        inspect(engine).get_table_names()
    )
    engine.dispose()
