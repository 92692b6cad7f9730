"""``miniapp worker --once``: one batch, counts printed as JSON."""

from __future__ import annotations

import json

from flask import Flask

from miniapp_api.db import Database
from miniapp_api.notify.commands import worker
from miniapp_api.wiring import Wiring
from tests.conftest import PlatformKeys
from tests.integration.notify.conftest import EmulatorInbox
from tests.integration.notify.factories import outbox_row, queue_message


def test_worker_once_sends_what_is_due_and_prints_the_counts(
    app: Flask, wire: Wiring, db: Database, platform_keys: PlatformKeys, inbox: EmulatorInbox
) -> None:
    queued = queue_message(db, "wechat", platform_keys.wechat_app_id, accepts=1)
    unsent = queue_message(db, "wechat", platform_keys.wechat_app_id, accepts=0)

    result = app.test_cli_runner().invoke(worker, ["--once"])

    assert result.exit_code == 0, result.output
    counts = json.loads(result.output)
    assert (counts["claimed"], counts["sent"], counts["no_subscription"]) == (2, 1, 1)
    assert outbox_row(db, queued.outbox_id).status == "sent"
    assert outbox_row(db, unsent.outbox_id).status == "no_subscription"
    assert len(inbox.to(queued.subject)) == 1


def test_worker_help_documents_once(app: Flask) -> None:
    result = app.test_cli_runner().invoke(worker, ["--help"])
    assert result.exit_code == 0
    assert "--once" in result.output
