"""The `miniapp` console command and the gunicorn guard for the embedded Redis stand-in."""

from __future__ import annotations

import base64
import runpy
import secrets
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, inspect

from miniapp_api.cli import main
from tests.conftest import code_signing_keys

ROOT = Path(__file__).resolve().parents[2]


def test_help_lists_the_operator_commands() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("db", "dev", "emulator"):
        assert command in result.output


def test_db_upgrade_creates_the_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("MINIAPP_DATABASE__URL", url)
    monkeypatch.setenv("MINIAPP_WECHAT__APP_SECRET", "x")
    for name in ("DATA_KEY", "INDEX_KEY"):
        key = base64.b64encode(secrets.token_bytes(32)).decode()
        monkeypatch.setenv(f"MINIAPP_SECURITY__{name}", key)
    monkeypatch.setenv("MINIAPP_ALIPAY__APP_ID", "")
    monkeypatch.setenv("MINIAPP_CODES__SIGNING_KEYS", code_signing_keys())

    result = CliRunner().invoke(main, ["db", "upgrade"])

    assert result.exit_code == 0, result.output
    engine = create_engine(url)
    assert "residents" in inspect(engine).get_table_names()
    engine.dispose()


def test_cli_start_fails_naming_missing_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINIAPP_ENV", "production")
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code != 0
    assert "MINIAPP_DATABASE__URL is missing" in result.output  # a line, not a traceback


def test_gunicorn_refuses_several_workers_on_the_stand_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINIAPP_WORKERS", "2")
    monkeypatch.setenv("MINIAPP_REDIS__URL", "memory://")
    conf = runpy.run_path(str(ROOT / "config" / "gunicorn.conf.py"))
    assert conf["worker_class"] == "miniapp_api.admission.door.SheddingThreadWorker"
    with pytest.raises(SystemExit, match="single-process only"):
        conf["on_starting"](None)


def test_gunicorn_accepts_several_workers_on_real_redis(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MINIAPP_WORKERS", "2")
    monkeypatch.setenv("MINIAPP_REDIS__URL", "redis://127.0.0.1:6379/0")
    metrics_dir = tmp_path / "metrics"
    (metrics_dir / "old").mkdir(parents=True)  # counts of a previous run
    # setenv (not left to the config's setdefault), so the variable is gone after this test.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(metrics_dir))
    conf = runpy.run_path(str(ROOT / "config" / "gunicorn.conf.py"))
    conf["on_starting"](None)
    assert metrics_dir.is_dir()
    assert list(metrics_dir.iterdir()) == []  # workers' counters start from zero
