"""``GET``/``PUT /api/v1/ops/limits``: operators only, validated, shared by every worker."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient

from tests.integration.ops.conftest import MakeApp, set_controls
from tests.support.ids import cn_id
from tests.support.phones import EmulatorPhone
from tests.support.residents import logged_in

LIMITS = "/api/v1/ops/limits"


def test_no_token_a_wrong_one_and_an_unknown_operator_get_the_same_401(
    ops_client: FlaskClient, operator: tuple[str, str]
) -> None:
    token = operator[0]
    attempts = [
        {},
        {"Authorization": f"Bearer {token[:-2]}xx"},  # right name, wrong secret
        {"Authorization": "Bearer mallory." + token.partition(".")[2]},  # unknown name
        {"Authorization": f"Basic {token}"},
    ]

    answers = [ops_client.get(LIMITS, headers=h) for h in attempts]
    put = ops_client.put(LIMITS, json={}, headers=attempts[1])

    assert {r.status_code for r in answers} == {401}
    assert len({r.get_data() for r in answers}) == 1
    assert answers[0].get_json()["code"] == "operator_unauthorized"
    assert put.status_code == 401


def test_get_shows_the_start_up_settings_until_an_operator_saves(
    make_app: MakeApp, operator_auth: dict[str, str]
) -> None:
    client = make_app(USER_RATE=7.0, USER_BURST=30.0, CHANNEL_RATE=100.0).test_client()

    shown = client.get(LIMITS, headers=operator_auth)

    assert shown.status_code == 200
    body = shown.get_json()
    assert (body["version"], body["updated_by"], body["updated_at"]) == (0, "", None)
    assert (body["limits"]["user_rate"], body["limits"]["user_burst"]) == (7.0, 30.0)
    assert body["limits"]["channel_rates"]["wechat"] == 100.0
    assert body["modes"] == {"read_only": False, "cache_only": False, "waiting_room_rate": 0.0}
    assert body["platforms"] == {}


def test_a_change_is_saved_as_a_new_version_named_after_the_operator(
    ops_client: FlaskClient,
    operator: tuple[str, str],
    operator_auth: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="miniapp_api.ops")
    saved = set_controls(
        ops_client,
        operator_auth,
        limits={"global_rate": 500.0, "class_rates": {"sheddable": 50.0}},
        cache_only=True,
    )
    shown = ops_client.get(LIMITS, headers=operator_auth).get_json()

    assert (saved["version"], saved["updated_by"]) == (1, "alice")
    # RFC 3339 in UTC, as every timestamp the API shows (the shared document keeps Unix time).
    assert saved["updated_at"].endswith("Z")
    saved_at = datetime.fromisoformat(saved["updated_at"])
    assert datetime.now(UTC) - timedelta(minutes=1) < saved_at <= datetime.now(UTC)
    assert shown == saved
    assert shown["limits"]["global_rate"] == 500.0
    assert shown["limits"]["class_rates"] == {"sheddable": 50.0}
    assert shown["modes"]["cache_only"] is True
    logged = [r.getMessage() for r in caplog.records if r.name.startswith("miniapp_api.ops")]
    assert any("version 1" in line and "alice" in line for line in logged)
    assert not any(operator[0] in line for line in logged)


@pytest.mark.parametrize(
    ("limits", "modes", "field"),
    [
        ({"share_normal": 5}, {}, "limits.share_normal"),
        ({"channel_rates": {"qq": 10}}, {}, "limits.channel_rates.qq.[key]"),
        ({"class_rates": {"normal": -1}}, {}, "limits.class_rates.normal"),
        ({"user_rate": "fast"}, {}, "limits.user_rate"),
        ({}, {"waiting_room_rate": -2}, "modes.waiting_room_rate"),
        ({}, {"panic": True}, "modes.panic"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_saved(
    ops_client: FlaskClient,
    operator_auth: dict[str, str],
    limits: dict[str, object],
    modes: dict[str, object],
    field: str,
) -> None:
    current = ops_client.get(LIMITS, headers=operator_auth).get_json()
    body = {"limits": {**current["limits"], **limits}, "modes": {"read_only": True, **modes}}

    refused = ops_client.put(LIMITS, json=body, headers=operator_auth)

    assert refused.status_code == 422
    assert refused.get_json()["code"] == "validation_failed"
    assert field in [p["field"] for p in refused.get_json()["detail"]]
    after = ops_client.get(LIMITS, headers=operator_auth).get_json()
    assert (after["version"], after["modes"]["read_only"]) == (0, False)


def test_a_save_from_a_stale_version_is_refused(
    ops_client: FlaskClient, operator_auth: dict[str, str]
) -> None:
    loaded = ops_client.get(LIMITS, headers=operator_auth).get_json()
    set_controls(ops_client, operator_auth, read_only=True)  # someone else, in between
    body = {"limits": loaded["limits"], "modes": {}, "version": loaded["version"]}

    refused = ops_client.put(LIMITS, json=body, headers=operator_auth)

    assert refused.status_code == 409
    assert refused.get_json()["detail"]["version"] == 1
    assert ops_client.get(LIMITS, headers=operator_auth).get_json()["modes"]["read_only"]


def test_a_change_made_on_one_app_is_applied_by_another_within_a_second(
    make_app: MakeApp, operator_auth: dict[str, str], phone: EmulatorPhone
) -> None:
    here, there = make_app(), make_app()  # two workers: same Redis, nothing else shared
    resident = logged_in(there, phone)
    assert resident.me()  # `there` has read the controls (none saved yet) and keeps a copy

    set_controls(here.test_client(), operator_auth, read_only=True)
    changed = time.monotonic()
    refused = resident.declare("张三", cn_id())
    while refused.status_code != 503 and time.monotonic() - changed < 1.0:
        time.sleep(0.02)
        refused = resident.declare("张三", cn_id())

    assert refused.status_code == 503
    assert refused.get_json()["detail"]["reason"] == "read_only"
    assert time.monotonic() - changed < 1.0
    assert resident.me()  # reads go on
    # Operators get through (critical): switching read-only off on `there` works too.
    set_controls(there.test_client(), operator_auth, read_only=False)
    deadline = time.monotonic() + 1.0
    accepted = resident.declare("张三", cn_id())
    while accepted.status_code == 503 and time.monotonic() < deadline:
        time.sleep(0.02)
        accepted = resident.declare("张三", cn_id())
    assert accepted.status_code == 200, accepted.get_json()
