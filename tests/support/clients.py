"""Clients of our API acting through the Flask test client: a staff member's scanning app and a
lab's upload client (a resident's mini-program is ``tests/support/residents.py``)."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from miniapp_api.lab.signing import sign
from tests.support.factories import STAFF_PASSWORD, LabKey, ago
from tests.support.sensitive import TOKENS


@dataclass
class BearerClient:
    """A client that logs in for a bearer token and keeps its last response."""

    client: FlaskClient
    token: str | None = field(default=None, kw_only=True)
    last: TestResponse | None = field(default=None, repr=False, kw_only=True)

    @property
    def auth(self) -> dict[str, str]:
        assert self.token, "log in first"
        return {"Authorization": f"Bearer {self.token}"}

    def logged_in(self, response: TestResponse) -> TestResponse:
        """Keep the token of a successful login response (never in a log line)."""
        if response.status_code == 200:
            self.token = response.get_json()["token"]
            TOKENS.add(self.token)
        self.last = response
        return response


# --- the staff's scanning app -------------------------------------------------------------------


def scan_item(
    code: str,
    tube_no: str,
    *,
    client_id: str | None = None,
    scanned_at: datetime | None = None,
    capacity: int | None = None,
) -> dict[str, Any]:
    """One item of ``POST /api/v1/sampling/scans``, as the scanning app sends it."""
    item: dict[str, Any] = {
        "client_id": client_id or str(uuid.uuid4()),
        "tube_no": tube_no,
        "code": code,
        "scanned_at": (scanned_at or datetime.now(UTC)).isoformat(),
    }
    if capacity is not None:
        item["capacity"] = capacity
    return item


@dataclass
class StaffClient(BearerClient):
    """A staff member's scanning app."""

    username: str
    password: str = STAFF_PASSWORD

    def login(self) -> TestResponse:
        body = {"username": self.username, "password": self.password}
        return self.logged_in(self.client.post("/api/v1/staff/login", json=body))

    def scan(self, *items: dict[str, Any]) -> TestResponse:
        response = self.client.post(
            "/api/v1/sampling/scans", json={"items": list(items)}, headers=self.auth
        )
        self.last = response
        return response

    def scan_answers(self, *items: dict[str, Any]) -> list[dict[str, Any]]:
        """The per-item answers of a batch that must be accepted (200)."""
        response = self.scan(*items)
        assert response.status_code == 200, response.get_json()
        answers: list[dict[str, Any]] = response.get_json()["items"]
        return answers

    def close(self, tube_no: str) -> TestResponse:
        response = self.client.post(f"/api/v1/sampling/tubes/{tube_no}/close", headers=self.auth)
        self.last = response
        return response


# --- a lab's upload client ----------------------------------------------------------------------


def iso_ago(minutes_ago: int = 30) -> str:
    """An ISO timestamp with the Beijing offset, as a lab would send it."""
    return ago(minutes=minutes_ago).astimezone().isoformat(timespec="seconds")


def result(tube_no: str, outcome: str = "negative", tested_at: str | None = None) -> dict[str, str]:
    """One item of a lab's upload."""
    return {"tube_no": tube_no, "result": outcome, "tested_at": tested_at or iso_ago()}


def lab_headers(
    key: LabKey,
    path: str,
    body: bytes,
    *,
    idempotency_key: str | None = None,
    timestamp: int | None = None,
    nonce: str | None = None,
    secret: str | None = None,
) -> dict[str, str]:
    """The headers of a lab's signed ``POST path`` with ``body`` (fresh timestamp and nonce
    unless given), as miniapp_api/lab/signing.py says; for any HTTP client."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_hex(8)
    headers = {
        "X-Lab-Id": key.lab_id,
        "X-Timestamp": ts,
        "X-Nonce": nonce,
        "X-Signature": sign(secret or key.secret, "POST", path, ts, nonce, body),
    }
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    return headers


@dataclass
class LabClient:
    """A lab's upload client: signs every request as miniapp_api/lab/signing.py says."""

    client: FlaskClient
    key: LabKey

    def send(
        self,
        path: str,
        body: dict[str, Any] | bytes,
        *,
        idempotency_key: str | None = None,
        timestamp: int | None = None,
        nonce: str | None = None,
        secret: str | None = None,
        lab_id: str | None = None,
        signed_path: str | None = None,
        signed_body: bytes | None = None,
    ) -> TestResponse:
        """POST ``body``; the keyword arguments break one part of the signature on purpose."""
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = lab_headers(
            self.key,
            signed_path or path.split("?")[0],
            raw if signed_body is None else signed_body,
            idempotency_key=idempotency_key,
            timestamp=timestamp,
            nonce=nonce,
            secret=secret,
        )
        if lab_id is not None:
            headers["X-Lab-Id"] = lab_id
        return self.client.post(path, data=raw, headers=headers, content_type="application/json")

    def upload(
        self, results: list[dict[str, Any]], idempotency_key: str | None = None, **kw: Any
    ) -> TestResponse:
        key = idempotency_key or secrets.token_hex(12)
        return self.send("/api/v1/lab/results", {"results": results}, idempotency_key=key, **kw)

    def amend(
        self, tube_no: str, result: str, reason: str = "re-read of the plate", **kw: Any
    ) -> TestResponse:
        body = {"result": result, "tested_at": kw.pop("tested_at", iso_ago(5)), "reason": reason}
        return self.send(f"/api/v1/lab/results/{tube_no}/amend", body, **kw)


# --- what a resident sees ---------------------------------------------------------------------


def results_shown(client: FlaskClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    """The residents, with their results, that ``GET /api/v1/results`` shows (must be 200)."""
    response = client.get("/api/v1/results", headers=headers)
    assert response.status_code == 200, response.get_json()
    residents: list[dict[str, Any]] = response.get_json()["residents"]
    return residents
