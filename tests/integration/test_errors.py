"""The one error handler (``miniapp_api/errors.py``) when a service the app needs is away."""

from __future__ import annotations

import pytest

from channels.emulator import RunningEmulator
from miniapp_api import create_app
from tests.conftest import REDIS_URL, PlatformKeys, app_overrides
from tests.support.clients import LabClient, result
from tests.support.factories import LabKey
from tests.support.redis_servers import free_port


def test_an_unreachable_database_is_a_503_with_the_contract_never_a_500(
    platform_keys: PlatformKeys, emulator: RunningEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    nowhere = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nowhere"
    app = create_app(app_overrides(platform_keys, emulator.base_url, nowhere, REDIS_URL))
    lab = LabClient(app.test_client(), LabKey(0, "lab_t0000abcdef", "not-a-real-secret"))
    try:
        answer = lab.upload([result("T000001")])
    finally:
        app.extensions["miniapp"].db.dispose()
        app.extensions["miniapp"].redis.close()

    assert answer.status_code == 503, answer.get_json()
    body = answer.get_json()
    assert body["code"] == "temporarily_unavailable"
    assert body["detail"]["alternatives"]
    assert int(answer.headers["Retry-After"]) == body["detail"]["retry_after"] >= 1
    assert "database unreachable in lab.post_results: OperationalError" in caplog.text
    assert "SELECT" not in caplog.text  # the statement (and its parameters) stay out of logs
