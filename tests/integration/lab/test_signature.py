"""Lab requests are authenticated by HMAC signature, timestamp and nonce (lab/signing.py)."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator

import pytest
import redis
from flask import Flask

from miniapp_api.wiring import wiring_of
from tests.support.clients import LabClient, result
from tests.support.factories import Desk, make_tube


@pytest.fixture
def tube(app: Flask, desk: Desk) -> str:
    return make_tube(app, desk, [])


def test_a_correctly_signed_upload_is_accepted(lab_client: LabClient, tube: str) -> None:
    response = lab_client.upload([result(tube)])
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["items"] == [{"tube_no": tube, "status": "accepted", "people": 0}]


def test_a_signature_with_the_wrong_secret_is_refused(lab_client: LabClient, tube: str) -> None:
    response = lab_client.upload([result(tube)], secret="not-the-secret")
    assert response.status_code == 401
    assert response.get_json()["code"] == "invalid_signature"


def test_a_signature_over_another_path_is_refused(lab_client: LabClient, tube: str) -> None:
    response = lab_client.upload([result(tube)], signed_path="/api/v1/lab/results/x/amend")
    assert response.status_code == 401
    assert response.get_json()["code"] == "invalid_signature"


def test_the_query_string_is_not_part_of_the_signed_path(lab_client: LabClient, tube: str) -> None:
    body = {"results": [result(tube)]}
    response = lab_client.send("/api/v1/lab/results?trace=1", body, idempotency_key="q-1")
    assert response.status_code == 200, response.get_json()


def test_a_tampered_body_is_refused(lab_client: LabClient, tube: str) -> None:
    signed = json.dumps({"results": [result(tube, "negative")]}).encode()
    response = lab_client.upload([result(tube, "positive")], signed_body=signed)
    assert response.status_code == 401
    assert response.get_json()["code"] == "invalid_signature"


@pytest.mark.parametrize("skew", [-301, 301])
def test_a_stale_or_early_timestamp_is_refused(lab_client: LabClient, tube: str, skew: int) -> None:
    response = lab_client.upload([result(tube)], timestamp=int(time.time()) + skew)
    assert response.status_code == 401
    assert response.get_json()["code"] == "stale_timestamp"


def test_a_reused_nonce_is_refused(lab_client: LabClient, tube: str) -> None:
    first = lab_client.upload([result(tube)], nonce="nonce-0001")
    again = lab_client.upload([result(tube)], nonce="nonce-0001")
    assert first.status_code == 200
    assert again.status_code == 401
    assert again.get_json()["code"] == "nonce_reused"


def test_an_unsigned_request_cannot_burn_a_nonce(lab_client: LabClient, tube: str) -> None:
    forged = lab_client.upload([result(tube)], nonce="nonce-0002", secret="guess")
    genuine = lab_client.upload([result(tube)], nonce="nonce-0002")
    assert forged.status_code == 401
    assert genuine.status_code == 200


def test_an_unknown_lab_is_answered_like_a_wrong_signature(
    lab_client: LabClient, tube: str
) -> None:
    unknown = lab_client.upload([result(tube)], lab_id="lab_nosuchlab")
    wrong = lab_client.upload([result(tube)], secret="not-the-secret")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.get_json()["code"] == wrong.get_json()["code"] == "invalid_signature"


def test_missing_signature_headers_are_refused(lab_client: LabClient, tube: str) -> None:
    response = lab_client.client.post(
        "/api/v1/lab/results", json={"results": [result(tube)]}, headers={"Idempotency-Key": "k"}
    )
    assert response.status_code == 401
    assert response.get_json()["code"] == "lab_signature_required"


def test_the_refusal_shows_the_string_the_server_signed(lab_client: LabClient, tube: str) -> None:
    response = lab_client.upload([result(tube)], timestamp=int(time.time()), secret="bad")
    to_sign = response.get_json()["detail"]["string_to_sign"]
    method, path, _ts, _nonce, body_hash = to_sign.split("\n")
    assert (method, path, len(body_hash)) == ("POST", "/api/v1/lab/results", 64)


def test_the_amend_call_needs_the_signature_too(lab_client: LabClient, tube: str) -> None:
    response = lab_client.amend(tube, "positive", secret="not-the-secret")
    assert response.status_code == 401


@pytest.fixture
def redis_down(app: Flask, tube: str) -> Iterator[None]:
    """Redis unreachable from the app (after the tube's rows were made)."""
    wire = wiring_of(app)
    broken = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    app.extensions["miniapp"] = dataclasses.replace(wire, redis=broken)
    yield
    app.extensions["miniapp"] = wire


@pytest.mark.usefixtures("redis_down")
def test_uploads_fail_closed_with_503_when_redis_is_down(lab_client: LabClient, tube: str) -> None:
    response = lab_client.upload([result(tube)])
    assert response.status_code == 503
    assert response.get_json()["code"] == "lab_auth_unavailable"
    assert int(response.headers["Retry-After"]) >= 1
