"""Operator tokens: argon2 hashes from the environment, a short in-memory cache, the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from channels.emulator import RunningEmulator
from miniapp_api import create_app, devserver
from miniapp_api.cli import main
from miniapp_api.ops import auth
from miniapp_api.ops.auth import CACHE_SECONDS, OperatorAuth, new_token, parse_operators
from miniapp_api.settings import ConfigurationError
from tests.conftest import REDIS_URL, PlatformKeys, app_overrides
from tests.support.apps import MakeApp


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def argon2_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts argon2 verifications (the expensive part)."""
    calls: list[str] = []
    real = auth.verify_known

    def counted(token_hash: str | None, token: str) -> bool:
        calls.append(token_hash or "(dummy)")
        return real(token_hash, token)

    monkeypatch.setattr(auth, "verify_known", counted)
    return calls


def test_a_verified_token_is_remembered_for_a_minute(argon2_calls: list[str]) -> None:
    token, alice = new_token("alice")
    clock = Clock()
    verifier = OperatorAuth({"alice": alice}, clock)

    names = [verifier.verify(token) for _ in range(3)]
    assert names == ["alice"] * 3
    assert len(argon2_calls) == 1

    clock.now += CACHE_SECONDS + 1
    assert verifier.verify(token) == "alice"
    assert len(argon2_calls) == 2


def test_wrong_secrets_and_unknown_names_cost_one_verification_and_are_not_remembered(
    argon2_calls: list[str],
) -> None:
    token, alice = new_token("alice")
    verifier = OperatorAuth({"alice": alice}, Clock())
    secret = token.partition(".")[2]

    assert verifier.verify(f"alice.{secret[::-1]}") is None
    assert verifier.verify(f"bob.{secret}") is None  # checked against a dummy hash
    assert verifier.verify(f"bob.{secret}") is None
    assert len(argon2_calls) == 3
    assert verifier.verify("x" * 10_000) is None  # too long to be worth argon2
    assert verifier.verify("") is None
    assert len(argon2_calls) == 3


def test_another_operators_hash_does_not_accept_a_renamed_token() -> None:
    token, alice = new_token("alice")
    _, bob = new_token("bob")
    verifier = OperatorAuth({"alice": alice, "bob": bob}, Clock())
    assert verifier.verify("bob." + token.partition(".")[2]) is None


def test_operators_are_read_from_json_or_a_list_and_bad_entries_are_refused() -> None:
    entry = {"name": "alice", "token_hash": "$argon2id$x"}
    assert parse_operators(json.dumps([entry]))["alice"].token_hash == "$argon2id$x"
    assert parse_operators([entry])["alice"].name == "alice"
    assert parse_operators([]) == {}
    assert parse_operators(None) == {}
    with pytest.raises(ValueError, match="name"):
        parse_operators([{"name": "Alice Smith", "token_hash": "h"}])
    with pytest.raises(ValueError, match="list"):
        parse_operators('{"name": "alice"}')


def test_the_token_command_prints_a_token_and_the_entry_that_accepts_it() -> None:
    result = CliRunner().invoke(main, ["ops", "token", "create", "--name", "alice"])

    assert result.exit_code == 0, result.output
    token = re.search(r"\(shown once, give it to them\): (\S+)", result.output)
    line = re.search(r"^MINIAPP_OPS__OPERATORS='(.*)'$", result.output, re.MULTILINE)
    assert token
    assert line
    operators = parse_operators(line.group(1))
    assert OperatorAuth(operators).verify(token.group(1)) == "alice"
    assert token.group(1) not in line.group(1)


def test_the_token_command_refuses_a_bad_name() -> None:
    result = CliRunner().invoke(main, ["ops", "token", "create", "--name", "Alice Smith"])
    assert result.exit_code == 2
    assert "operator names" in result.output


def test_the_embedded_default_has_a_demo_operator_whose_token_works(tmp_path: Path) -> None:
    old = tmp_path / "old-secrets.json"  # written before the ops console existed
    before = devserver.dev_secrets(old)
    del before["ops_demo_token"], before["ops_demo_token_hash"]
    old.write_text(json.dumps(before))

    for path in (tmp_path / "new-secrets.json", old):
        found = devserver.dev_secrets(path)
        assert devserver.dev_secrets(path) == found  # generated once, then kept
        env = devserver.embedded_environment(found, 8000, 8765)
        operators = parse_operators(env["MINIAPP_OPS__OPERATORS"])
        assert OperatorAuth(operators).verify(found["ops_demo_token"]) == "demo"
    kept = json.loads(old.read_text())
    assert {k: kept[k] for k in before} == before  # the other secrets stay as they were


def test_a_malformed_operator_list_stops_the_app_at_start_up(
    platform_keys: PlatformKeys, emulator: RunningEmulator, postgres_url: str
) -> None:
    overrides = app_overrides(platform_keys, emulator.base_url, postgres_url, REDIS_URL)
    overrides["OPS"] = {"OPERATORS": '[{"name": "Alice Smith", "token_hash": "x"}]'}
    with pytest.raises(ConfigurationError, match="MINIAPP_OPS__OPERATORS"):
        create_app(overrides)


def test_wrong_tokens_from_one_network_are_refused_before_argon2(
    make_app: MakeApp,
    operator_auth: dict[str, str],
    argon2_calls: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(auth, "MAX_OPERATOR_FAILURES_PER_NETWORK", 3)
    client = make_app().test_client()
    remembered = client.get("/api/v1/ops/limits", headers=operator_auth)  # before the attack
    assert remembered.status_code == 200
    attacker = {"REMOTE_ADDR": "2001:db8:1:2::10"}

    def limits(token: str, **environ: str) -> int:
        headers = {"Authorization": f"Bearer {token}"}
        return client.get("/api/v1/ops/limits", headers=headers, environ_base=environ).status_code

    tries = [limits(f"alice.wrong-{n}", **attacker) for n in range(3)]
    hashed = len(argon2_calls)
    refused = client.get(
        "/api/v1/ops/limits",
        headers={"Authorization": "Bearer alice.wrong-4"},
        environ_base={"REMOTE_ADDR": "2001:db8:1:2::99"},  # the same /64
    )

    assert tries == [401, 401, 401]
    assert refused.status_code == 429
    assert refused.get_json()["code"] == "too_many_failures"
    assert int(refused.headers["Retry-After"]) >= 1
    assert len(argon2_calls) == hashed  # refused before any hash
    # A token verified lately still works from there; another network is not held.
    assert limits(operator_auth["Authorization"].split()[1], **attacker) == 200
    assert limits("alice.wrong-5", REMOTE_ADDR="2001:db8:9::1") == 401
