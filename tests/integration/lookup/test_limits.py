"""The hard limits of the H5 lookup (per code, per client address, per code lifetime) and
failing closed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, cast

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import EnvironBuilder, TestResponse

from channels.emulator import RunningEmulator
from miniapp_api.admission.routes import RouteClassifier
from miniapp_api.api import TrafficClass
from miniapp_api.codes.tokens import verify_code
from miniapp_api.lookup import limits
from miniapp_api.lookup.service import LOCKED
from miniapp_api.overload.gcra import Rate
from miniapp_api.wiring import wiring_of
from tests.conftest import PlatformKeys, app_overrides
from tests.integration.lookup.conftest import LOOKUP, look_up, reissue, tampered
from tests.support.clients import StaffClient, scan_item
from tests.support.factories import (
    Person,
    make_person,
    make_round,
    make_site,
    make_staff,
    unissued_code,
)

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"
# A well-formed ID number nobody in these tests has.
NOBODYS_ID = "310115199001010000"


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


def test_the_sixth_attempt_on_one_code_is_refused_even_with_the_right_id_number(
    app: Flask, client: FlaskClient
) -> None:
    person = make_person(app)
    for _ in range(5):
        assert look_up(client, person.token, person.wrong_id_number).status_code == 404

    refused = look_up(client, person.token, person.id_number)

    assert_refused_with_the_contract(refused, "code")
    # One attempt per 2 minutes after the burst: the wait says so (with up to +50% jitter).
    assert 110 <= int(refused.headers["Retry-After"]) <= 181
    # Per code: the same address still looks up another code; other addresses this one neither.
    other = make_person(app, "李秀英")
    assert look_up(client, other.token, other.id_number).status_code == 200
    assert look_up(client, person.token, person.id_number, address="10.20.30.40").status_code == 429


def test_one_address_is_limited_across_codes(app: Flask, client: FlaskClient) -> None:
    person = make_person(app)
    sweeper = "10.1.2.3"
    for _ in range(30):
        unknown = unissued_code(app, person.resident)
        assert look_up(client, unknown, NOBODYS_ID, sweeper).status_code == 404

    refused = look_up(client, person.token, person.id_number, sweeper)

    assert_refused_with_the_contract(refused, "address")
    assert look_up(client, person.token, person.id_number, "10.1.2.4").status_code == 200


def test_garbage_counts_against_the_address_too(app: Flask, client: FlaskClient) -> None:
    person = make_person(app)
    for _ in range(30):
        assert look_up(client, "x" * 40, NOBODYS_ID, "10.5.5.5").status_code == 404

    assert look_up(client, person.token, person.id_number, "10.5.5.5").status_code == 429


def test_ipv6_clients_are_counted_per_64(redis_client: redis.Redis) -> None:
    tight = Rate(per_second=1 / 600, burst=2)

    def charge(address: str) -> limits.Refusal | None:
        charged = limits.charge(redis_client, code_id=None, address=address, per_address=tight)
        assert charged.failures == 0, "no code, no count"
        return charged.refusal

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

    charged = limits.charge(redis_client, code_id="code-id", address="192.0.2.9")

    assert charged == limits.Charge(refusal=None, failures=0)
    assert redis_client.exists(limits.code_key("code-id"), limits.address_key("192.0.2.9")) == 2


class PipelineCounter:
    """A Redis client that counts the pipelines made from it (one pipeline: one round trip)."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.pipelines = 0

    def pipeline(self, **kwargs: Any) -> Any:
        self.pipelines += 1
        return self.client.pipeline(**kwargs)


def test_the_failure_count_is_read_in_the_same_round_trip_and_expires_with_the_code(
    redis_client: redis.Redis,
) -> None:
    expires = datetime.fromtimestamp(int(datetime.now(UTC).timestamp()) + 3600, UTC)
    for _ in range(3):
        limits.record_failure(redis_client, code_id="code-id", expires_at=expires, counts=True)
    limits.record_failure(redis_client, code_id="code-id", expires_at=expires, counts=False)
    counted = PipelineCounter(redis_client)

    charged = limits.charge(cast(redis.Redis, counted), code_id="code-id", address="192.0.2.10")

    assert charged.failures == 3
    assert counted.pipelines == 1, "one round trip: both buckets and the count"
    assert 3590 <= redis_client.ttl(limits.failures_key("code-id")) <= 3600
    # Beside the code's bucket, in the same Redis Cluster slot.
    assert limits.failures_key("code-id").startswith(limits.code_key("code-id"))


# --- the lifetime cap: 10 failures per code ---------------------------------------------------


def code_id_of(app: Flask, token: str) -> str:
    return verify_code(token, wiring_of(app).settings.codes.keys, datetime.now(UTC)).code_id


def fail(
    app: Flask, client: FlaskClient, redis_client: redis.Redis, token: str, times: int
) -> None:
    """``times`` wrong ID numbers on the code, each let past the per-code rate (its bucket is
    emptied: this cap is about what passes the rate over a code's 30 days)."""
    code_id = code_id_of(app, token)
    for _ in range(times):
        redis_client.delete(limits.code_key(code_id))
        assert look_up(client, token, NOBODYS_ID).status_code == 404


def test_ten_failures_lock_the_code_even_for_the_right_id_number(
    app: Flask, client: FlaskClient, redis_client: redis.Redis
) -> None:
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"  # the raise site's English sentence
    person = make_person(app)
    fail(app, client, redis_client, person.token, limits.LIFETIME_FAILURES - 1)
    code_id = code_id_of(app, person.token)
    redis_client.delete(limits.code_key(code_id))
    assert look_up(client, person.token, person.id_number).status_code == 200, "below the cap"
    fail(app, client, redis_client, person.token, 1)  # the tenth: still the usual 404

    redis_client.delete(limits.code_key(code_id))
    locked = look_up(client, person.token, person.id_number)

    assert locked.status_code == 423
    body = locked.get_json()
    assert body == {"code": "lookup_locked", "message": LOCKED, "detail": None}
    assert "mini-program" in body["message"]
    assert "new code" in body["message"]
    redis_client.delete(limits.code_key(code_id))
    assert look_up(client, person.token, NOBODYS_ID).status_code == 423
    other = make_person(app, "李秀英")
    assert look_up(client, other.token, other.id_number).status_code == 200, "per code only"


def test_a_reissued_code_works_again(
    app: Flask, client: FlaskClient, redis_client: redis.Redis
) -> None:
    person = make_person(app)
    fail(app, client, redis_client, person.token, limits.LIFETIME_FAILURES)

    renewed = reissue(app, person)

    assert look_up(client, renewed.token, renewed.id_number).status_code == 200


def test_scanning_a_locked_code_still_binds(
    app: Flask, client: FlaskClient, redis_client: redis.Redis
) -> None:
    person = make_person(app)
    fail(app, client, redis_client, person.token, limits.LIFETIME_FAILURES)
    staff = StaffClient(app.test_client(), make_staff(app, make_site(app)).username)
    make_round(app)
    assert staff.login().status_code == 200

    [answer] = staff.scan_answers(scan_item(person.token, "LOCKED-1"))

    assert answer["status"] == "bound"


def test_the_failure_count_ignores_unknown_forged_and_reissued_codes(
    app: Flask, client: FlaskClient, redis_client: redis.Redis
) -> None:
    person = make_person(app)
    unknown = unissued_code(app, person.resident)
    stale = person.token
    renewed = reissue(app, person)

    fail(app, client, redis_client, unknown, limits.LIFETIME_FAILURES + 2)
    fail(app, client, redis_client, stale, limits.LIFETIME_FAILURES + 2)
    for _ in range(limits.LIFETIME_FAILURES + 2):
        forged = look_up(client, tampered(renewed.token), renewed.id_number, "10.9.9.9")
        assert forged.status_code == 404

    for token in (unknown, stale, renewed.token):
        assert not redis_client.exists(limits.failures_key(code_id_of(app, token)))
    assert look_up(client, renewed.token, renewed.id_number).status_code == 200
    fail(app, client, redis_client, renewed.token, 1)
    assert redis_client.get(limits.failures_key(code_id_of(app, renewed.token))) == b"1"


def test_the_count_expires_with_the_code(
    app: Flask, client: FlaskClient, redis_client: redis.Redis
) -> None:
    person: Person = make_person(app)
    fail(app, client, redis_client, person.token, 1)
    code = verify_code(person.token, wiring_of(app).settings.codes.keys, datetime.now(UTC))

    ttl = redis_client.ttl(limits.failures_key(code.code_id))

    left = (code.expires_at - datetime.now(UTC)).total_seconds()
    assert left - 5 <= ttl <= left + 1


def test_the_routes_are_classified_critical_and_the_api_abusable(app: Flask) -> None:
    classifier = RouteClassifier(app)

    def route(method: str, path: str) -> tuple[TrafficClass, bool]:
        found, _ = classifier.classify(EnvironBuilder(path=path, method=method).get_environ())
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
    refused = look_up(client, person.token, person.id_number)

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
        refused = look_up(ungated.test_client(), person.token, person.id_number)
    finally:
        ungated.extensions["miniapp"].db.dispose()

    assert refused.status_code == 503
    assert refused.get_json()["code"] == "temporarily_unavailable"
    assert refused.get_json()["detail"]["reason"] == "redis_unavailable"
