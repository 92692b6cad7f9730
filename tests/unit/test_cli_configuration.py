"""`miniapp` without configuration: help works, commands name each problem, no traceback."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from miniapp_api import settings
from miniapp_api.cli import EXIT_CONFIGURATION, main
from tests.conftest import code_signing_keys

MINIAPP = Path(sys.executable).parent / "miniapp"  # the console script of this environment


@pytest.fixture
def unconfigured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No MINIAPP_* variable, no remembered env file, a working directory without .env."""
    for name in [name for name in os.environ if name.startswith("MINIAPP_")]:
        monkeypatch.delenv(name)
    monkeypatch.setattr(settings, "_FROM_ENV_FILE", {})
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_help_of_the_group_and_of_every_command_needs_no_configuration(
    unconfigured: Path,
) -> None:
    runner = CliRunner()
    for args in [[], *([name] for name in main.list_commands(None))]:  # type: ignore[arg-type]
        result = runner.invoke(main, [*args, "--help"])
        assert result.exit_code == 0, (args, result.output)
        assert "Traceback" not in result.output
        assert result.exception is None


def test_a_command_that_needs_the_app_names_each_missing_setting(
    unconfigured: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MINIAPP_ENV", "production")

    result = CliRunner().invoke(main, ["db", "upgrade"])

    assert result.exit_code == EXIT_CONFIGURATION
    lines = result.stderr.splitlines()
    assert lines[0] == "miniapp: configuration is incomplete:"
    assert "  - MINIAPP_SECURITY__DATA_KEY is missing" in lines
    assert "  - MINIAPP_SECURITY__INDEX_KEY is missing" in lines
    assert "  - MINIAPP_CODES__SIGNING_KEYS is missing" in lines
    assert all(line.startswith("  - ") for line in lines[1:])
    assert "Traceback" not in result.output


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The console script with nothing in its environment but ``env``."""
    return subprocess.run(  # noqa: S603 (our own console script)
        [str(MINIAPP), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def test_empty_environment_help_exits_0_and_a_command_exits_with_one_line_per_problem(
    unconfigured: Path,
) -> None:
    helped = run(["--help"], unconfigured)
    assert helped.returncode == 0, helped.stderr
    assert "Commands:" in helped.stdout
    assert helped.stderr == ""

    refused = run(["db", "upgrade"], unconfigured, MINIAPP_ENV="production")
    assert refused.returncode == EXIT_CONFIGURATION
    assert "Traceback" not in refused.stderr
    assert "  - MINIAPP_SECURITY__DATA_KEY is missing" in refused.stderr.splitlines()


def test_the_cli_reads_dot_env_and_the_env_file_it_is_given(unconfigured: Path) -> None:
    def key() -> str:
        return base64.b64encode(secrets.token_bytes(32)).decode()

    database = unconfigured / "cli.db"
    (unconfigured / "node.env").write_text(
        "\n".join(
            [
                f"MINIAPP_DATABASE__URL=sqlite:///{database}",
                "MINIAPP_WECHAT__APP_SECRET=s",
                "MINIAPP_ALIPAY__APP_ID=",
                f"MINIAPP_SECURITY__DATA_KEY={key()}",
                f"MINIAPP_SECURITY__INDEX_KEY={key()}",
                f"MINIAPP_CODES__SIGNING_KEYS='{code_signing_keys()}'",
            ]
        ),
        encoding="utf-8",
    )

    migrated = run(["--env-file", "node.env", "db", "upgrade"], unconfigured)
    assert migrated.returncode == 0, migrated.stderr
    assert database.exists()

    (unconfigured / "node.env").rename(unconfigured / ".env")
    again = run(["db", "upgrade"], unconfigured)
    assert again.returncode == 0, again.stderr

    missing = run(["db", "upgrade"], unconfigured, MINIAPP_ENV_FILE="nowhere.env")
    assert missing.returncode != 0
    assert "nowhere.env" in missing.stderr
    assert "Traceback" not in missing.stderr
