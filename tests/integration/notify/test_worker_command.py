"""``miniapp worker --once``: one batch, counts printed as JSON."""

from __future__ import annotations

import json

from flask import Flask

from miniapp_api.notify.commands import worker
from miniapp_api.wiring import Wiring
from tests.integration.notify.conftest import EmulatorInbox, Outbox


def test_worker_once_sends_what_is_due_and_prints_the_counts(
    app: Flask, wire: Wiring, outbox: Outbox, inbox: EmulatorInbox
) -> None:
    queued = outbox.queue(accepts=1)
    unsent = outbox.queue(accepts=0)

    result = app.test_cli_runner().invoke(worker, ["--once"])

    assert result.exit_code == 0, result.output
    counts = json.loads(result.output)
    assert (counts["claimed"], counts["sent"], counts["no_subscription"]) == (2, 1, 1)
    assert outbox.row(queued).status == "sent"
    assert outbox.row(unsent).status == "no_subscription"
    assert len(inbox.to(queued.subject)) == 1


def test_worker_help_documents_once(app: Flask) -> None:
    result = app.test_cli_runner().invoke(worker, ["--help"])
    assert result.exit_code == 0
    assert "--once" in result.output
