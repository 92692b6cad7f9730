"""The API keeps its own OpenAPI document: schemathesis sends every operation generated cases,
valid and invalid, as nobody, a resident, a staff member, a lab and an operator, and every
answer must pass every check (no 5xx, documented status codes, headers and content types,
bodies matching their schemas, invalid input refused, valid input accepted).

The document is built in-process by ``build_document``, as ``/openapi.json`` serves it, and
the app is called through WSGI: on the suite's PostgreSQL and Redis, admission on with quotas
the fuzzer never meets. Cases are derandomized, so a failure in CI replays locally.
"""

from __future__ import annotations

import io
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
import schemathesis.engine
from flask import Flask
from schemathesis.engine.events import (
    FatalError,
    FuzzScenarioFinished,
    NonFatalError,
    ScenarioFinished,
)
from schemathesis.engine.recorder import CheckNode, ScenarioRecorder
from werkzeug.serving import WSGIRequestHandler, make_server

from miniapp_api.legal.documents import DOCUMENTS, REQUIRED_FOR_SENSITIVE_DATA
from miniapp_api.openapi import build_document
from miniapp_api.overload.controls import CONTROLS_KEY
from miniapp_api.residents.models import Relation
from miniapp_api.wiring import wiring_of
from tests.contract.conftest import CASES_RUN
from tests.support.apps import MakeApp
from tests.support.clients import StaffClient, lab_headers
from tests.support.factories import (
    LabKey,
    bearer,
    make_account,
    make_lab,
    make_residents,
    make_site,
    make_staff,
)

ROLES = ("anonymous", "resident", "staff", "lab", "operator")
# Generated cases per operation and role in the fuzzing phase (the examples and coverage phases
# add their own, derived from the schema): about two minutes for the whole module.
MAX_EXAMPLES = 10
SEED = 20220316  # the same cases on every run, so a failure in CI replays locally


# What the lab's cases carry as their credentials (the document's lab security schemes): the
# signer replaces them with a real signature. A case with other lab headers, or none, is
# schemathesis checking that made-up or missing credentials are refused: it goes unsigned.
TO_BE_SIGNED = "signed-by-LabSigner"
LAB_PLACEHOLDERS = {
    name: TO_BE_SIGNED for name in ("X-Lab-Id", "X-Timestamp", "X-Nonce", "X-Signature")
}


class LabSigner:
    """A lab's upload client in front of the app: signs every ``/api/v1/lab/`` request that
    carries :data:`LAB_PLACEHOLDERS` with the lab's secret as ``miniapp_api/lab/signing.py``
    says (and gives an upload an ``Idempotency-Key`` when the case has none)."""

    def __init__(self, app: Flask, lab: LabKey) -> None:
        self.app = app
        self.lab = lab

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = str(environ.get("PATH_INFO", ""))
        placeholders = all(
            environ.get("HTTP_" + name.upper().replace("-", "_")) == TO_BE_SIGNED
            for name in LAB_PLACEHOLDERS
        )
        if path.startswith("/api/v1/lab/") and placeholders:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            key = environ.get("HTTP_IDEMPOTENCY_KEY") or secrets.token_hex(12)
            for name, value in lab_headers(self.lab, path, body, idempotency_key=key).items():
                environ["HTTP_" + name.upper().replace("-", "_")] = value
        return self.app(environ, start_response)


class ControlsUndone:
    """An operator's run: each change of the run-time limits and modes (``PUT
    /api/v1/ops/limits``) is undone once answered, so that read-only mode or a tiny quota the
    fuzzer chose does not turn every later case into a 503 (which the contract allows, but
    ``not_a_server_error`` counts). The app re-reads the controls on every request."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        changes = (environ.get("REQUEST_METHOD"), environ.get("PATH_INFO")) == (
            "PUT",
            "/api/v1/ops/limits",
        )
        try:
            return self.app(environ, start_response)
        finally:
            if changes:
                wiring_of(self.app).redis.delete(CONTROLS_KEY)


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve ``app`` on a free loopback port from a thread, as ``make run`` does: the base URL.

    Over HTTP rather than schemathesis' in-process WSGI transport, which passes requests-only
    arguments to Werkzeug in some checks and leaves file answers unclosed."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="fuzzed-api", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@dataclass(frozen=True)
class World:
    """The app with one caller of each role and their headers."""

    app: Flask
    target: Any  # the WSGI app the fuzzer calls
    headers: dict[str, str]


@pytest.fixture(params=ROLES)
def role(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def world(make_app: MakeApp, operator: tuple[str, str], role: str) -> World:
    app = make_app(CONTROLS_REFRESH_SECONDS=0.0) if role == "operator" else make_app()
    lab = make_lab(app)
    target: Any = app
    headers: dict[str, str] = {}
    if role == "resident":
        me, child = make_residents(app, 2)
        account = make_account(app, [(me, Relation.SELF), (child, Relation.DEPENDENT)])
        headers = bearer(app, account)
        for name in REQUIRED_FOR_SENSITIVE_DATA:  # as the mini-programs ask at first launch
            body = {"document": name, "version": DOCUMENTS[name].version}
            given = app.test_client().post("/api/v1/me/consents", json=body, headers=headers)
            assert given.status_code == 201, given.get_json()
    elif role == "staff":
        staff = StaffClient(app.test_client(), "fuzz.staff")
        make_staff(app, make_site(app, lab=lab), staff.username)
        assert staff.login().status_code == 200
        headers = staff.auth
    elif role == "lab":
        target = LabSigner(app, lab)
        headers = LAB_PLACEHOLDERS
    elif role == "operator":
        headers = {"Authorization": f"Bearer {operator[0]}"}
        target = ControlsUndone(app)
    return World(app, target, headers)


def run_schemathesis(world: World, base_url: str) -> tuple[int, list[str]]:
    """Run schemathesis as ``schemathesis run --checks all`` would: every phase, every check,
    valid and invalid data. The number of cases sent, and a report of each failure."""
    config = schemathesis.Config.from_dict(
        {
            "base-url": base_url,
            "seed": SEED,
            "headers": world.headers,
            "suppress-health-check": ["all"],
            "checks": {"enabled": True},
            "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "database": "none"},
            "operations": [
                {
                    # A login code is good only if the platform issued it: a well-formed one
                    # it never issued is refused with 400 invalid_code, which no schema can say.
                    "include-path-regex": "^/api/v1/auth/(wechat|alipay)$",
                    "checks": {
                        "positive_data_acceptance": {
                            "expected-statuses": ["2xx", "400", "429", "503"]
                        }
                    },
                },
            ],
        }
    )
    document = build_document(world.app, "Nucleic-acid screening mini-program API", "1")
    loaded = schemathesis.openapi.from_dict(document, config=config)
    cases = 0
    failures: list[str] = []
    for event in schemathesis.engine.from_schema(loaded).execute():
        if isinstance(event, ScenarioFinished | FuzzScenarioFinished):
            cases += len(event.recorder.cases)
            failures.extend(
                describe(event.recorder, case_id, check)
                for case_id, checks in event.recorder.checks.items()
                for check in checks
                if check.failure_info is not None
            )
        elif isinstance(event, NonFatalError | FatalError):
            failures.append(f"schemathesis error: {event!r}")
    return cases, failures


def describe(recorder: ScenarioRecorder, case_id: str, check: CheckNode) -> str:
    """The failure, the request that caused it (as curl) and the answer."""
    assert check.failure_info is not None
    failure = check.failure_info.failure
    interaction = recorder.interactions.get(case_id)
    answer = ""
    if interaction is not None and interaction.response is not None:
        response = interaction.response
        answer = f"\n-> {response.status_code} {response.content[:300]!r}"
    return (
        f"{recorder.label}: {check.name}: {failure.title}\n{failure.message}\n"
        f"{check.failure_info.code_sample}{answer}"
    )


def test_every_operation_keeps_its_documented_contract(world: World, role: str) -> None:
    with serving(world.target) as base_url:
        cases, failures = run_schemathesis(world, base_url)

    CASES_RUN[role] = cases
    assert not failures, f"{len(failures)} failures:\n\n" + "\n\n".join(failures)
    assert cases > 100
