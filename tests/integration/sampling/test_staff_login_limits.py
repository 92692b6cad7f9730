"""Staff login is argon2 for callers nobody knows yet: wrong passwords are counted per username
and per client network (IPv4 address, IPv6 /64) and refused before any hash past the limit;
argon2 runs in at most a few threads per process. And a staff session can be ended."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from miniapp_api.security import passwords
from tests.support.clients import StaffClient
from tests.support.factories import STAFF_PASSWORD, make_round, make_site, make_staff


class CountingHasher:
    """argon2 as it is, with each verification seen (``PasswordHasher`` has slots)."""

    def __init__(self, real: Any, seen: Callable[[], None] = lambda: None) -> None:
        self.real, self.seen = real, seen

    def verify(self, hash_: str, secret: str) -> bool:
        self.seen()
        return bool(self.real.verify(hash_, secret))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def attempt(client: FlaskClient, username: str, password: str, address: str) -> int:
    response = client.post(
        "/api/v1/staff/login",
        json={"username": username, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )
    return response.status_code


def test_a_username_is_locked_after_too_many_wrong_passwords(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(passwords, "MAX_FAILURES_PER_NAME", 3)
    member = make_staff(app, make_site(app)).username
    hashed: list[int] = []
    monkeypatch.setattr(
        passwords, "HASHER", CountingHasher(passwords.HASHER, lambda: hashed.append(1))
    )

    # From three networks, as a botnet would: the name's count is what stops it.
    statuses = [attempt(client, member, f"guess-{n}", f"10.0.{n}.1") for n in range(3)]
    hashed.clear()
    refused = client.post(
        "/api/v1/staff/login",
        json={"username": member.upper(), "password": STAFF_PASSWORD},  # the right one, too late
        environ_base={"REMOTE_ADDR": "10.9.9.9"},
    )

    assert statuses == [401, 401, 401]
    assert refused.status_code == 429
    assert refused.get_json()["code"] == "too_many_failures"
    assert int(refused.headers["Retry-After"]) >= 1
    assert hashed == []  # refused before argon2
    assert attempt(client, "someone-else", "x" * 8, "10.9.9.9") == 401  # other names go on


def test_a_network_is_held_after_too_many_wrong_passwords_over_many_names(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(passwords, "MAX_FAILURES_PER_NETWORK", 3)
    site = make_site(app)
    names = [make_staff(app, site).username for _ in range(4)]

    # One IPv6 /64, a new address and a new name each time.
    statuses = [
        attempt(client, name, "wrong-password", f"2001:db8:7:7::{n + 1:x}")
        for n, name in enumerate(names)
    ]

    assert statuses == [401, 401, 401, 429]
    assert attempt(client, names[3], STAFF_PASSWORD, "2001:db8:7:8::1") == 200  # another /64


def test_a_right_password_clears_the_names_count(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(passwords, "MAX_FAILURES_PER_NAME", 3)
    member = make_staff(app, make_site(app)).username
    make_round(app)
    for _ in range(2):
        assert attempt(client, member, "typo-typo", "10.1.1.1") == 401
    assert attempt(client, member, STAFF_PASSWORD, "10.1.1.1") == 200

    assert [attempt(client, member, "typo-typo", "10.1.1.1") for _ in range(3)] == [401] * 3


def test_argon2_runs_in_a_few_threads_at_most_and_refuses_when_none_frees(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    member = make_staff(app, make_site(app)).username
    monkeypatch.setattr(passwords, "WAIT_SECONDS", 0.2)
    held = [passwords._checks.acquire(timeout=1) for _ in range(passwords.CONCURRENT_CHECKS)]
    try:
        busy = client.post(
            "/api/v1/staff/login", json={"username": member, "password": STAFF_PASSWORD}
        )
    finally:
        for taken in held:
            if taken:
                passwords._checks.release()

    assert all(held)
    assert busy.status_code == 503
    assert busy.get_json()["detail"]["reason"] == "local_concurrency"
    assert "Retry-After" in busy.headers


def test_at_most_the_configured_checks_run_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    running, most = [0], [0]
    lock = threading.Lock()

    class Concurrent(CountingHasher):
        def verify(self, hash_: str, secret: str) -> bool:
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            try:
                return bool(self.real.verify(hash_, secret))
            finally:
                with lock:
                    running[0] -= 1

    hashed = passwords.HASHER.hash("secret-1")
    monkeypatch.setattr(passwords, "HASHER", Concurrent(passwords.HASHER))
    threads = [
        threading.Thread(target=passwords.verify, args=(hashed, "secret-1")) for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert most[0] == passwords.CONCURRENT_CHECKS


def test_staff_logout_ends_the_session(app: Flask, client: FlaskClient) -> None:
    make_round(app)
    member = StaffClient(client, make_staff(app, make_site(app)).username)
    assert member.login().status_code == 200

    ended = client.post("/api/v1/staff/logout", headers=member.auth)

    assert ended.status_code == 204
    assert member.close("T-ANY").status_code == 401
    assert client.post("/api/v1/staff/logout", headers=member.auth).status_code == 401
