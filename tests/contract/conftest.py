"""The app the API fuzzer runs against: the suite's PostgreSQL, Redis and emulator, admission on
with quotas the fuzzer never meets, and an operator; and the count of cases it ran."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from channels.emulator import RunningEmulator
from tests.conftest import REDIS_URL, PlatformKeys, app_overrides
from tests.support.apps import MakeApp, app_factory
from tests.support.operators import new_operator, with_operator

OPERATOR = "fuzz"
# Cases sent by tests/contract/test_schemathesis.py, by role (reported at the end of the run).
CASES_RUN: dict[str, int] = {}


@pytest.fixture(scope="session")
def operator() -> tuple[str, str]:
    """``(token, argon2 hash)`` of the operator ``fuzz``."""
    return new_operator(OPERATOR)


@pytest.fixture
def make_app(
    platform_keys: PlatformKeys,
    emulator: RunningEmulator,
    postgres_url: str,
    redis_client: redis.Redis,
    operator: tuple[str, str],
) -> Iterator[MakeApp]:
    """``make_app(USER_RATE=..., ...)``: an app with ``fuzz`` as its operator."""
    base = app_overrides(platform_keys, emulator.base_url, postgres_url, REDIS_URL)
    with app_factory(with_operator(base, OPERATOR, operator[1])) as make:
        yield make


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if CASES_RUN:
        by_role = ", ".join(f"{role} {n}" for role, n in CASES_RUN.items())
        terminalreporter.write_line(
            f"schemathesis: {sum(CASES_RUN.values())} cases ({by_role})", bold=True
        )
