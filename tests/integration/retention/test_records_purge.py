"""Registration codes, outbox rows, notices, scan receipts and labs' idempotency records past
their periods go; younger ones, and those still in use (a live code, a push not yet over), stay.
On PostgreSQL and SQLite."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import select

from miniapp_api.codes.models import RegistrationCode
from miniapp_api.db import utcnow
from miniapp_api.lab.models import LabRequest
from miniapp_api.residents.models import Notice
from miniapp_api.results.models import OutboxMessage
from miniapp_api.retention.purge import Kind, Purge, expired_counts
from miniapp_api.sampling.models import ScanReceipt
from miniapp_api.wiring import wiring_of
from tests.integration.retention.conftest import World
from tests.support.factories import committed, make_account, make_residents


def days_ago(days: float) -> datetime:
    return utcnow() - timedelta(days=days)


def test_codes_ended_long_ago_go_and_live_or_recently_ended_ones_stay(world: World) -> None:
    people = make_residents(world.app, 5)
    codes = {  # name: (expires_at, revoked_at), with EXPIRED_CODES_DAYS = 10
        "expired long ago": (days_ago(11), None),
        "revoked long ago": (days_ago(-15), days_ago(11)),
        "expired lately": (days_ago(9), None),
        "revoked lately": (days_ago(-15), days_ago(9)),
        "live": (days_ago(-20), None),
    }
    with committed(world.app) as session:
        for person, (name, (expires, revoked)) in zip(people, codes.items(), strict=True):
            session.add(
                RegistrationCode(
                    code_id=name.replace(" ", "-"),
                    resident_id=person.id,
                    kid="t1",
                    issued_at=days_ago(40),
                    expires_at=expires,
                    revoked_at=revoked,
                )
            )

    report = world.purge(kinds=(Kind.CODES,))

    with committed(world.app) as session:
        left = set(session.scalars(select(RegistrationCode.code_id)))
    assert left == {"expired-lately", "revoked-lately", "live"}
    assert dict(report.deleted[Kind.CODES]) == {"registration_codes": 2}


def test_outbox_rows_go_once_delivery_is_over_and_their_period_has_passed(world: World) -> None:
    rows = {  # (status, days ago), with OUTBOX_DAYS = 7
        ("sent", 8): True,
        ("failed", 8): True,
        ("refused", 8): True,
        ("no_subscription", 8): True,
        ("pending", 8): False,  # the worker will still fail or send it
        ("sending", 8): False,
        ("sent", 6): False,
    }
    with committed(world.app) as session:
        for n, (status, age) in enumerate(rows):
            session.add(
                OutboxMessage(
                    person_result_id=n + 1,
                    account_id=1,
                    version=0,
                    status=status,
                    created_at=days_ago(age),
                    next_attempt_at=days_ago(age),
                )
            )

    report = world.purge(kinds=(Kind.OUTBOX,))

    with committed(world.app) as session:
        left = {(r.status, r.person_result_id) for r in session.scalars(select(OutboxMessage))}
    kept = {(status, n + 1) for n, ((status, _), goes) in enumerate(rows.items()) if not goes}
    assert left == kept
    assert dict(report.deleted[Kind.OUTBOX]) == {"outbox": 4}


def test_notices_go_once_pushed_and_past_their_period(world: World) -> None:
    account = make_account(world.app)
    notices = {
        ("sent", 16): True,
        ("skipped", 16): True,
        ("pending", 16): False,
        ("sent", 14): False,
    }
    with committed(world.app) as session:
        for status, age in notices:
            session.add(
                Notice(
                    account_id=account.id,
                    kind="holder_added",
                    name_masked=f"{status}-{age}-{secrets.token_hex(2)}",
                    push_status=status,
                    created_at=days_ago(age),
                )
            )

    world.purge(kinds=(Kind.NOTICES,))

    with committed(world.app) as session:
        left = sorted(n.name_masked.rsplit("-", 1)[0] for n in session.scalars(select(Notice)))
    assert left == ["pending-16", "sent-14"]


def dry_run(world: World, kind: Kind) -> dict[str, int]:
    """What ``miniapp retention purge --dry-run`` counts for ``kind``."""
    job = Purge(wiring_of(world.app).db, world.readmodel(), world.settings, utcnow())
    return dict(expired_counts(job, (kind,))[kind])


def test_scan_receipts_go_with_the_results_period(world: World) -> None:
    """A receipt holds a masked name and an ID number's last four: kept as long as results
    (RESULTS_DAYS = 30 here), then purged."""
    ages = {"old-1": 31, "old-2": 45, "recent": 29, "today": 0}
    with committed(world.app) as session:
        for client_id, age in ages.items():
            session.add(
                ScanReceipt(
                    staff_id=world.desk.staff_id,
                    client_id=client_id,
                    status="sampled",
                    answer={"name_masked": "王*", "id_last4": "123X"},
                    created_at=days_ago(age),
                )
            )
    assert dry_run(world, Kind.RECEIPTS) == {"scan_receipts": 2}

    report = world.purge(kinds=(Kind.RECEIPTS,))

    with committed(world.app) as session:
        left = set(session.scalars(select(ScanReceipt.client_id)))
    assert left == {"recent", "today"}
    assert dict(report.deleted[Kind.RECEIPTS]) == {"scan_receipts": 2}
    assert dry_run(world, Kind.RECEIPTS) == {"scan_receipts": 0}


def test_labs_idempotency_records_go_after_their_period_whatever_their_state(
    world: World,
) -> None:
    requests = {  # (key, state, days ago): goes, with LAB_REQUESTS_DAYS = 5
        ("done-old", "done", 6): True,
        ("cut-off", "in_flight", 6): True,  # its request died long ago
        ("done-recent", "done", 4): False,
        ("in-flight-now", "in_flight", 0): False,
    }
    with committed(world.app) as session:
        for key, state, age in requests:
            session.add(
                LabRequest(
                    lab_id=world.desk.lab.id,
                    idempotency_key=key,
                    body_sha256=secrets.token_hex(32),
                    status=state,
                    response_status=200 if state == "done" else None,
                    created_at=days_ago(age),
                )
            )
    assert dry_run(world, Kind.LAB_REQUESTS) == {"lab_requests": 2}

    report = world.purge(kinds=(Kind.LAB_REQUESTS,))

    with committed(world.app) as session:
        left = set(session.scalars(select(LabRequest.idempotency_key)))
    assert left == {key for (key, _, _), goes in requests.items() if not goes}
    assert dict(report.deleted[Kind.LAB_REQUESTS]) == {"lab_requests": 2}
