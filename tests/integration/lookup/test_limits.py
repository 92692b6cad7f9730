"""The hard limits of the H5 lookup (per code, per client address) and failing closed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import EnvironBuilder, TestResponse

from channels.emulator import RunningEmulator
from miniapp_api.admission.routes import RouteClassifier
from miniapp_api.api import TrafficClass
from miniapp_api.lookup import limits
from miniapp_api.overload.gcra import Rate
from tests.conftest import PlatformKeys, app_overrides
from tests.integration.lookup.conftest import LOOKUP, look_up
from tests.support.factories import make_person, unissued_code

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


def assert_refused_with_the_contract(response: TestResponse, limit: str) -> None:
    assert response.status_code == 429, response.get_json()
    retry_after = int(response.headers["Retry-After"])
    body = response.get_json()
    assert body["code"] == "rate_limited"
    assert body["detail"]["limit"] == limit
    assert body["detail"]["retry_after"] == retry_after
    kinds = [a["kind"] for a in body["detail"]["alternatives"]]
    assert kinds[0] == "saved_code"
    assert {"other_platform", "push"} <= set(kinds)
    assert "h5_lookup" not in kinds, "the resident is on the H5 page already"


def test_the_sixth_attempt_on_one_code_is_refused_even_with_the_right_ending(
    app: Flask, client: FlaskClient
) -> None:
    person = make_person(app)
    for _ in range(5):
        assert look_up(client, person.token, person.wrong_last4).status_code == 404

    refused = look_up(client, person.token, person.last4)

    assert_refused_with_the_contract(refused, "code")
    # One attempt per 2 minutes after the burst: the wait says so (with up to +50% jitter).
    assert 110 <= int(refused.headers["Retry-After"]) <= 181
    # Per code: the same address still looks up another code; other addresses this one neither.
    other = make_person(app, "李秀英")
    assert look_up(client, other.token, other.last4).status_code == 200
    assert look_up(client, person.token, person.last4, address="10.20.30.40").status_code == 429


def test_one_address_is_limited_across_codes(app: Flask, client: FlaskClient) -> None:
    person = make_person(app)
    sweeper = "10.1.2.3"
    for _ in range(30):
        assert (
            look_up(client, unissued_code(app, person.resident), "0000", sweeper).status_code == 404
        )

    refused = look_up(client, person.token, person.last4, sweeper)

    assert_refused_with_the_contract(refused, "address")
    assert look_up(client, person.token, person.last4, "10.1.2.4").status_code == 200


def test_garbage_counts_against_the_address_too(app: Flask, client: FlaskClient) -> None:
    person = make_person(app)
    for _ in range(30):
        assert look_up(client, "x" * 40, "0000", "10.5.5.5").status_code == 404

    assert look_up(client, person.token, person.last4, "10.5.5.5").status_code == 429


def test_ipv6_clients_are_counted_per_64(redis_client: redis.Redis) -> None:
    tight = Rate(per_second=1 / 600, burst=2)

    def charge(address: str) -> limits.Refusal | None:
        return limits.charge(redis_client, code_id=None, address=address, per_address=tight)

    assert charge("2001:db8:1:2::1") is None
    assert charge("2001:db8:1:2:aaaa::2") is None
    refusal = charge("2001:db8:1:2:ffff:ffff:ffff:ffff")
    assert refusal is not None
    assert refusal.limit == "address"
    assert charge("2001:db8:1:3::1") is None, "the next /64 is someone else"
    assert charge("::ffff:192.0.2.7") is None
    assert charge("192.0.2.7") is None
    assert charge("192.0.2.7") is not None, "an IPv4-mapped address is that IPv4 address"


def test_the_limits_work_on_a_redis_that_lost_its_scripts(redis_client: redis.Redis) -> None:
    redis_client.script_flush()

    assert limits.charge(redis_client, code_id="code-id", address="192.0.2.9") is None
    assert redis_client.exists(limits.code_key("code-id"), limits.address_key("192.0.2.9")) == 2


def test_the_routes_are_classified_critical_and_the_api_abusable(app: Flask) -> None:
    classifier = RouteClassifier(app)

    def route(method: str, path: str) -> tuple[TrafficClass, bool]:
        found = classifier.classify(EnvironBuilder(path=path, method=method).get_environ())
        return found.traffic, found.abusable

    assert route("POST", LOOKUP) == (TrafficClass.CRITICAL, True)
    assert route("GET", "/lookup") == (TrafficClass.CRITICAL, False)


@pytest.fixture
def app_without_redis(
    app: Flask, platform_keys: PlatformKeys, emulator_server: RunningEmulator, postgres_url: str
) -> Iterator[Flask]:
    """The app on the same database and keys (so codes verify), but no Redis to reach."""
    unreachable = without_redis(app, platform_keys, emulator_server, postgres_url)
    yield unreachable
    unreachable.extensions["miniapp"].db.dispose()


def without_redis(
    app: Flask,
    platform_keys: PlatformKeys,
    emulator_server: RunningEmulator,
    postgres_url: str,
    **sections: dict[str, object],
) -> Flask:
    from miniapp_api import create_app

    overrides = app_overrides(
        platform_keys, emulator_server.base_url, postgres_url, UNREACHABLE_REDIS
    )
    overrides["CODES"] = dict(app.config["CODES"])
    overrides["SECURITY"] = dict(app.config["SECURITY"])
    overrides.update(sections)
    return create_app(overrides)


def test_with_redis_down_the_lookup_fails_closed_and_the_page_still_opens(
    app: Flask, app_without_redis: Flask
) -> None:
    person = make_person(app)
    client = app_without_redis.test_client()

    page = client.get("/lookup")
    refused = look_up(client, person.token, person.last4)

    assert page.status_code == 200
    assert refused.status_code == 503
    assert refused.get_json()["code"] == "temporarily_unavailable"
    assert int(refused.headers["Retry-After"]) >= 1
    assert "alternatives" in refused.get_json()["detail"]


def test_behind_no_admission_gate_the_view_itself_fails_closed(
    app: Flask, platform_keys: PlatformKeys, emulator_server: RunningEmulator, postgres_url: str
) -> None:
    ungated = without_redis(
        app, platform_keys, emulator_server, postgres_url, OVERLOAD={"ENABLED": False}
    )
    try:
        person = make_person(app)
        refused = look_up(ungated.test_client(), person.token, person.last4)
    finally:
        ungated.extensions["miniapp"].db.dispose()

    assert refused.status_code == 503
    assert refused.get_json()["code"] == "temporarily_unavailable"
    assert refused.get_json()["detail"]["reason"] == "redis_unavailable"
