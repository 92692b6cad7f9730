"""Backdated scans (security review, issue 12 finding 4): a scan dated before its round opened
or older than the scan window is ``stale_scan`` and binds nothing. A code is judged at the
scan's time, so a false old time would otherwise bind codes revoked or expired since."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from channels.emulator import RunningEmulator
from miniapp_api import create_app
from miniapp_api.sampling.models import Sampling, ScanReceipt, ScreeningRound, Tube
from miniapp_api.settings import ConfigurationError
from tests.conftest import REDIS_URL, PlatformKeys, app_overrides
from tests.support.clients import StaffClient, scan_item
from tests.support.factories import (
    committed,
    issue_code,
    make_person,
    make_resident,
    make_round,
    make_site,
    make_staff,
)


def scanning_desk(app: Flask, *, opened_hours_ago: float) -> StaffClient:
    """A logged-in staff member of a new site, in a round opened that long ago."""
    member = make_staff(app, make_site(app))
    screening_round = make_round(app)
    with committed(app) as session:
        opened = datetime.now(UTC) - timedelta(hours=opened_hours_ago)
        session.get_one(ScreeningRound, screening_round.id).opened_at = opened
    staff = StaffClient(app.test_client(), member.username)
    assert staff.login().status_code == 200
    return staff


def hours_ago(hours: float) -> datetime:
    return datetime.now(UTC) - timedelta(hours=hours)


def count(app: Flask, model: type[Any], *where: Any) -> int:
    with committed(app) as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def assert_refused_as_stale(answer: dict[str, Any], hours: int = 12) -> None:
    assert answer["status"] == "stale_scan"
    # Staff apps are Chinese: the message is, unless they ask for English.
    assert f"已超过 {hours} 小时" in answer["message"]
    assert "早于本轮开始" in answer["message"]
    assert (answer["person"], answer["tube"], answer["first_scan"]) == (None, None, None)


# --- the attack: an old time makes a dead code look alive -------------------------------------


def test_an_expired_code_backdated_beyond_the_window_is_stale_and_binds_nothing(
    app: Flask,
) -> None:
    staff = scanning_desk(app, opened_hours_ago=48)
    expired = issue_code(app, make_resident(app), expires_at=hours_ago(1))

    # Before the fix: judged at that time, the code was still valid, and it bound.
    [answer] = staff.scan_answers(scan_item(expired, "OLD-1", scanned_at=hours_ago(13)))

    assert_refused_as_stale(answer)
    assert count(app, Sampling) == 0
    assert count(app, Tube) == 0  # not even the tube was opened


def test_a_revoked_code_backdated_beyond_the_window_is_stale_and_binds_nothing(
    app: Flask,
) -> None:
    staff = scanning_desk(app, opened_hours_ago=48)
    person = make_person(app)
    issue_code(app, person.resident)  # re-issued now: person.token is revoked

    [answer] = staff.scan_answers(scan_item(person.token, "OLD-1", scanned_at=hours_ago(13)))

    assert_refused_as_stale(answer)
    assert count(app, Sampling) == 0


def test_a_genuine_code_backdated_is_refused_and_still_binds_when_scanned_right(
    app: Flask,
) -> None:
    staff = scanning_desk(app, opened_hours_ago=48)
    person = make_person(app)
    backdated = scan_item(person.token, "T-1", scanned_at=hours_ago(12.1))

    [refused] = staff.scan_answers(backdated)
    [again] = staff.scan_answers(backdated)  # re-sent: the stored answer
    [bound] = staff.scan_answers(scan_item(person.token, "T-1"))

    assert_refused_as_stale(refused)
    assert again == refused
    assert bound["status"] == "bound"
    assert bound["tube"]["bound_count"] == 1
    with committed(app) as session:
        sampling = session.scalars(select(Sampling)).one()
    assert sampling.scanned_at > hours_ago(1)
    assert count(app, ScanReceipt, ScanReceipt.status == "stale_scan") == 1


def test_a_scan_dated_before_the_round_opened_is_stale(app: Flask) -> None:
    staff = scanning_desk(app, opened_hours_ago=2)
    person = make_person(app)
    revoked_holder = make_person(app)
    issue_code(app, revoked_holder.resident)  # revoked now, so "valid" 3 hours ago

    answers = staff.scan_answers(
        scan_item(person.token, "EARLY-1", scanned_at=hours_ago(3)),
        scan_item(revoked_holder.token, "EARLY-1", scanned_at=hours_ago(3)),
    )

    assert [a["status"] for a in answers] == ["stale_scan", "stale_scan"]
    assert count(app, Sampling) == 0
    assert count(app, Tube) == 0


# --- what still binds -------------------------------------------------------------------------


def test_a_scan_within_the_window_after_the_round_opened_still_binds(app: Flask) -> None:
    staff = scanning_desk(app, opened_hours_ago=48)
    person = make_person(app)
    scanned = hours_ago(11)

    [answer] = staff.scan_answers(scan_item(person.token, "T-1", scanned_at=scanned))

    assert answer["status"] == "bound"
    with committed(app) as session:
        sampling = session.scalars(select(Sampling)).one()
    assert abs(sampling.scanned_at - scanned) < timedelta(seconds=1)


def test_in_a_mixed_batch_only_the_backdated_item_is_refused(app: Flask) -> None:
    staff = scanning_desk(app, opened_hours_ago=48)
    tokens = [make_person(app).token for _ in range(4)]
    items = [
        scan_item(tokens[0], "MIX-1"),
        scan_item(tokens[1], "MIX-1", scanned_at=hours_ago(30)),
        scan_item(tokens[2], "MIX-1", scanned_at=hours_ago(1)),
        # Ahead of our clock: kept as the time received, as before (not stale).
        scan_item(tokens[3], "MIX-1", scanned_at=datetime.now(UTC) + timedelta(days=3)),
    ]

    answers = staff.scan_answers(*items)

    assert [a["status"] for a in answers] == ["bound", "stale_scan", "bound", "bound"]
    assert [a["client_id"] for a in answers] == [i["client_id"] for i in items]
    assert [a["tube"]["bound_count"] for a in answers if a["tube"]] == [1, 2, 3]
    assert count(app, Sampling) == 3
    with committed(app) as session:
        latest = session.scalar(select(func.max(Sampling.scanned_at)))
    assert latest is not None
    assert latest <= datetime.now(UTC)


# --- the window is configurable ----------------------------------------------------------------


@pytest.fixture
def narrow_app(
    app: Flask, platform_keys: PlatformKeys, emulator: RunningEmulator, postgres_url: str
) -> Iterator[Flask]:
    """The app on the same database and Redis, with a 2-hour scan window (the tables are
    emptied after the test by ``app``)."""
    overrides = app_overrides(platform_keys, emulator.base_url, postgres_url, REDIS_URL)
    narrow = create_app({**overrides, "SAMPLING": {"SCAN_WINDOW_HOURS": 2}})
    narrow.testing = True
    yield narrow
    narrow.extensions["miniapp"].db.dispose()


def test_the_scan_window_is_configurable(app: Flask, narrow_app: Flask) -> None:
    assert app.extensions["miniapp"].settings.sampling.scan_window_hours == 12
    staff = scanning_desk(narrow_app, opened_hours_ago=48)
    late, recent = make_person(narrow_app), make_person(narrow_app)

    answers = staff.scan_answers(
        scan_item(late.token, "T-1", scanned_at=hours_ago(3)),
        scan_item(recent.token, "T-1", scanned_at=hours_ago(1)),
    )

    assert [a["status"] for a in answers] == ["stale_scan", "bound"]
    assert "已超过 2 小时" in answers[0]["message"]


def test_the_scan_window_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
    platform_keys: PlatformKeys,
    emulator: RunningEmulator,
    postgres_url: str,
) -> None:
    overrides = app_overrides(platform_keys, emulator.base_url, postgres_url, REDIS_URL)
    monkeypatch.setenv("MINIAPP_SAMPLING__SCAN_WINDOW_HOURS", "6")
    configured = create_app(overrides)
    assert configured.extensions["miniapp"].settings.sampling.scan_window_hours == 6
    configured.extensions["miniapp"].db.dispose()

    monkeypatch.setenv("MINIAPP_SAMPLING__SCAN_WINDOW_HOURS", "0")
    with pytest.raises(ConfigurationError, match="MINIAPP_SAMPLING__SCAN_WINDOW_HOURS"):
        create_app(overrides)


# --- the contract --------------------------------------------------------------------------------


def test_the_openapi_document_lists_the_stale_scan_status(client: FlaskClient) -> None:
    doc = client.get("/openapi.json").get_json()
    assert "stale_scan" in doc["components"]["schemas"]["ScanStatus"]["enum"]
    scanned_at = doc["components"]["schemas"]["ScanItemIn"]["properties"]["scanned_at"]
    assert "stale_scan" in scanned_at["description"]
