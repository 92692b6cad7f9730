"""No result is pushed to an account that withdrew a required consent and did not give it
again (``miniapp_api/residents/consents.py``); nothing of its subscription is spent."""

from __future__ import annotations

from datetime import datetime

from miniapp_api.db import Database, utcnow
from miniapp_api.legal.documents import DOCUMENTS, REQUIRED_FOR_SENSITIVE_DATA
from miniapp_api.notify.worker import PushWorker
from miniapp_api.residents.models import Consent
from tests.integration.notify.conftest import EmulatorInbox, Outbox


def consents(db: Database, account_id: int, withdrawn_at: datetime | None) -> None:
    """The account's consents to the current documents, withdrawn at ``withdrawn_at``."""
    with db.session() as session, session.begin():
        for name in REQUIRED_FOR_SENSITIVE_DATA:
            session.add(
                Consent(
                    account_id=account_id,
                    kind=name,
                    document_version=DOCUMENTS[name].version,
                    channel="wechat",
                    withdrawn_at=withdrawn_at,
                )
            )


def test_a_result_is_not_pushed_after_consent_was_withdrawn(
    db: Database, worker: PushWorker, outbox: Outbox, inbox: EmulatorInbox
) -> None:
    withheld = outbox.queue(accepts=1)
    consents(db, withheld.account_id, withdrawn_at=utcnow())
    given = outbox.queue(accepts=1)
    consents(db, given.account_id, withdrawn_at=None)

    stats = worker.run_once(utcnow())

    assert (stats.sent, stats.failed) == (1, 1)
    assert inbox.to(withheld.subject) == []
    assert len(inbox.to(given.subject)) == 1
    row = outbox.row(withheld)
    assert (row.status, row.last_error) == ("failed", "consent withdrawn: not pushed")
    assert outbox.remaining(withheld) == 1, "nothing of the subscription was spent"


def test_consent_given_again_lets_the_next_result_through(
    db: Database, worker: PushWorker, outbox: Outbox, inbox: EmulatorInbox
) -> None:
    first = outbox.queue(accepts=1)
    consents(db, first.account_id, withdrawn_at=utcnow())
    consents(db, first.account_id, withdrawn_at=None)  # agreed again

    assert worker.run_once(utcnow()).sent == 1
    assert len(inbox.to(first.subject)) == 1
