""".env.example names every variable at its default; env files fill what the environment lacks."""

from __future__ import annotations

import dataclasses
import os
import re
import runpy
from pathlib import Path

import pytest

from miniapp_api import settings
from miniapp_api.settings import ConfigurationError, load_env_file
from tests.unit.test_settings import SECTIONS

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / ".env.example"
# Read with os.environ.get("MINIAPP_...", "default") outside the settings dataclasses.
PROCESS_READERS = ("config/gunicorn.conf.py", "miniapp_api/admission/door.py", "miniapp_api/cli.py")
# Read from their sections by code of their own (keys, JSON lists), or by settings.py itself.
PARSED_ELSEWHERE = {
    "MINIAPP_ENV",
    f"{settings.ENV_PREFIX}_HOME",
    settings.ENV_FILE_VARIABLE,
    "MINIAPP_SECURITY__DATA_KEY",
    "MINIAPP_SECURITY__DATA_KEY_ID",
    "MINIAPP_SECURITY__INDEX_KEY",
    "MINIAPP_SECURITY__INDEX_KEY_ID",
    "MINIAPP_CODES__SIGNING_KEYS",
    "MINIAPP_CODES__VERIFY_KEYS",
    "MINIAPP_OPS__OPERATORS",
    "MINIAPP_REVIEW__ACCOUNTS",
}
# Where the example shows a production value instead of the development default, and why.
PRODUCTION_VALUES = {
    "MINIAPP_APP__PUBLIC_BASE_URL": "production refuses http://",
    "MINIAPP_APP__TRUSTED_PROXIES": "production requires it said; HAProxy in front: 1",
}


def example() -> dict[str, str]:
    """Every ``NAME=value`` of .env.example, commented-out (a default shown) or not."""
    text = EXAMPLE.read_text(encoding="utf-8")
    return dict(re.findall(r"^#?\s*(MINIAPP_\w+)=(.*)$", text, re.MULTILINE))


def dataclass_defaults() -> dict[str, object]:
    sections = {**SECTIONS, "OPS": settings.OpsSettings}
    return {
        f"MINIAPP_{section}__{spec.name.upper()}": spec.default
        for section, cls in sections.items()
        for spec in dataclasses.fields(cls)
        if not isinstance(spec.default, tuple)  # CODES.keys: built from SIGNING_KEYS
    }


def process_defaults() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in PROCESS_READERS:
        source = (ROOT / name).read_text(encoding="utf-8")
        for variable, default in re.findall(
            r'os\.environ\.get\(\s*"(MINIAPP_\w+)"(?:,\s*"([^"]*)")?', source
        ):
            found[variable] = default or None
    return found


def same(shown: str, default: object) -> bool:
    if isinstance(default, bool):
        return (shown.strip().lower() in ("1", "true", "yes", "on")) is default
    return type(default)(shown) == default  # type: ignore[call-arg]


def test_the_example_lists_every_variable_and_no_other() -> None:
    shown = set(example())
    known = set(dataclass_defaults()) | set(process_defaults()) | PARSED_ELSEWHERE
    assert known - shown == set(), "missing from .env.example"
    assert shown - known == set(), "not read by anything"


def test_the_example_shows_the_defaults() -> None:
    shown = example()
    compared = 0
    # A section variable gunicorn also reads (LOGGING__LEVEL) is held to its dataclass.
    for name, default in {**process_defaults(), **dataclass_defaults()}.items():
        if default in (dataclasses.MISSING, None) or name in PRODUCTION_VALUES:
            continue
        assert same(shown[name], default), f"{name}={shown[name]}, the code says {default!r}"
        compared += 1
    assert compared >= 60
    assert shown["MINIAPP_THREADS"] == "16"


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """A working directory of its own, no file-set variables remembered, and every variable
    these tests use restored afterwards (set then deleted: monkeypatch records both)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(settings, "_FROM_ENV_FILE", {})
    for name in ("ENV_TEST_A", "ENV_TEST_B", "ENV_TEST_C", settings.ENV_FILE_VARIABLE):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    return monkeypatch


def test_dot_env_fills_what_the_environment_lacks(clean_environment: pytest.MonkeyPatch) -> None:
    Path(".env").write_text("ENV_TEST_A=from-file\nENV_TEST_B=from-file\n", encoding="utf-8")
    clean_environment.setenv("ENV_TEST_B", "from-environment")

    assert load_env_file() == Path(".env")

    assert os.environ["ENV_TEST_A"] == "from-file"
    assert os.environ["ENV_TEST_B"] == "from-environment"


def test_no_dot_env_is_no_error(clean_environment: pytest.MonkeyPatch) -> None:
    assert load_env_file() is None


def test_a_named_file_replaces_dot_env(clean_environment: pytest.MonkeyPatch) -> None:
    Path(".env").write_text("ENV_TEST_A=dot-env\n", encoding="utf-8")
    Path("node.env").write_text("ENV_TEST_B=named\n", encoding="utf-8")
    clean_environment.setenv(settings.ENV_FILE_VARIABLE, "node.env")

    assert load_env_file() == Path("node.env")
    assert "ENV_TEST_A" not in os.environ
    assert os.environ["ENV_TEST_B"] == "named"


def test_a_named_file_that_is_missing_is_refused(clean_environment: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="env file nowhere.env not found"):
        load_env_file("nowhere.env")


def test_read_again_the_file_replaces_only_what_it_set(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    """gunicorn reads its config, and so the env file, again on a HUP."""
    env_file = Path(".env")
    env_file.write_text("ENV_TEST_A=1\nENV_TEST_B=1\nENV_TEST_C=1\n", encoding="utf-8")
    clean_environment.setenv("ENV_TEST_C", "environment")
    load_env_file()

    env_file.write_text("ENV_TEST_A=2\nENV_TEST_C=2\n", encoding="utf-8")
    load_env_file()

    assert os.environ["ENV_TEST_A"] == "2"
    assert "ENV_TEST_B" not in os.environ  # taken out of the file
    assert os.environ["ENV_TEST_C"] == "environment"


def test_gunicorn_config_reads_dot_env_first(
    clean_environment: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    Path(".env").write_text("MINIAPP_THREADS=7\nMINIAPP_BIND=127.0.0.1:18999\n", encoding="utf-8")
    for name in (
        "MINIAPP_THREADS",
        "MINIAPP_BIND",
        "MINIAPP_WORKERS",
        "MINIAPP_OPS__INTERNAL_BIND",
    ):
        clean_environment.setenv(name, "")
        clean_environment.delenv(name)
    clean_environment.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))

    found = runpy.run_path(str(ROOT / "config" / "gunicorn.conf.py"))

    assert found["threads"] == 7
    assert found["bind"] == ["127.0.0.1:18999"]
