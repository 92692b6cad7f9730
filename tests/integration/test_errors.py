"""The one error handler (``miniapp_api/errors.py``) when a service the app needs is away."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from channels.emulator import RunningEmulator
from miniapp_api import create_app
from miniapp_api.messages import CATALOGUE
from miniapp_api.messages.rejections import REASONS
from tests.conftest import REDIS_URL, PlatformKeys, app_overrides
from tests.support.clients import LabClient, result
from tests.support.factories import LabKey
from tests.support.ids import cn_id, with_wrong_check_digit
from tests.support.redis_servers import free_port
from tests.support.residents import MiniProgramUser


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


# --- one shape, in the caller's language (miniapp_api/messages) -------------------------------

ENGLISH = {"Accept-Language": "en-US,en;q=0.9"}
HAS_CJK = re.compile(r"[\u4e00-\u9fff]")


def test_an_unknown_route_is_our_json_in_chinese_by_default(client: FlaskClient) -> None:
    answer = client.get("/api/v1/nothing-here")

    assert answer.status_code == 404
    assert answer.mimetype == "application/json"
    assert answer.get_json() == {
        "code": "not_found",
        "message": CATALOGUE["not_found"].zh,
        "detail": None,
    }
    assert answer.headers["Content-Language"] == "zh-CN"
    assert "Accept-Language" in answer.headers["Vary"]


def test_an_unknown_route_speaks_english_when_asked_never_werkzeugs_text(
    client: FlaskClient,
) -> None:
    answer = client.get("/no/such/page", headers=ENGLISH)

    body = answer.get_json()
    assert (answer.status_code, body["code"]) == (404, "not_found")
    assert body["message"] == CATALOGUE["not_found"].en
    assert "requested URL" not in answer.get_data(as_text=True)  # Werkzeug's description
    assert answer.headers["Content-Language"] == "en"


def test_an_unknown_method_is_405_json_with_allow(client: FlaskClient) -> None:
    answer = client.patch("/api/v1/me", headers={"Accept-Language": "zh-TW"})

    assert answer.status_code == 405
    assert answer.get_json()["code"] == "method_not_allowed"
    assert answer.get_json()["message"] == CATALOGUE["method_not_allowed"].zh
    assert "GET" in answer.headers["Allow"]


def test_english_keeps_the_raise_sites_specifics_chinese_takes_the_catalogue(
    wechat_user: MiniProgramUser,
) -> None:
    wechat_user.login()
    bad = {"name": "张三", "id_type": "cn_id", "id_number": with_wrong_check_digit(cn_id())}
    headers = wechat_user.auth

    english = wechat_user.client.put("/api/v1/me/profile", json=bad, headers=headers | ENGLISH)
    chinese = wechat_user.client.put("/api/v1/me/profile", json=bad, headers=headers)

    assert english.status_code == chinese.status_code == 422
    assert english.get_json()["code"] == chinese.get_json()["code"] == "invalid_id_number"
    assert "check digit" in english.get_json()["message"]  # the raise site's own sentence
    assert chinese.get_json()["message"] == CATALOGUE["invalid_id_number"].zh
    assert english.get_json()["detail"] == chinese.get_json()["detail"]
    assert isinstance(chinese.get_json()["detail"], list)


def test_the_q_values_pick_the_language(client: FlaskClient) -> None:
    prefers_english = {"Accept-Language": "zh-CN;q=0.5, en;q=0.8"}
    prefers_chinese = {"Accept-Language": "en;q=0.5, zh-Hans;q=0.9"}

    english = client.get("/api/v1/me", headers=prefers_english)
    chinese = client.get("/api/v1/me", headers=prefers_chinese)

    assert english.get_json()["code"] == chinese.get_json()["code"] == "unauthorized"
    assert not HAS_CJK.search(english.get_json()["message"])
    assert chinese.get_json()["message"] == CATALOGUE["unauthorized"].zh


def test_a_validation_error_always_lists_its_problems(client: FlaskClient) -> None:
    answer = client.post("/api/v1/auth/wechat", json={})

    body = answer.get_json()
    assert (answer.status_code, body["code"]) == (422, "validation_failed")
    assert body["message"] == CATALOGUE["validation_failed"].zh
    assert [p["field"] for p in body["detail"]] == ["code"]


def test_a_rejection_speaks_the_callers_language(
    platform_keys: PlatformKeys, emulator: RunningEmulator
) -> None:
    nowhere = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nowhere"
    app = create_app(app_overrides(platform_keys, emulator.base_url, nowhere, REDIS_URL))
    key = LabKey(0, "lab_t0000abcdef", "not-a-real-secret")
    in_english = app.test_client()
    in_english.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    try:
        english = LabClient(in_english, key).upload([result("T000001")])
        chinese = LabClient(app.test_client(), key).upload([result("T000002")])
    finally:
        app.extensions["miniapp"].db.dispose()
        app.extensions["miniapp"].redis.close()

    assert english.status_code == chinese.status_code == 503
    assert english.get_json()["code"] == chinese.get_json()["code"] == "temporarily_unavailable"
    assert english.get_json()["message"] == REASONS["database_unavailable"].en
    assert chinese.get_json()["message"] == REASONS["database_unavailable"].zh
    languages = (english.headers["Content-Language"], chinese.headers["Content-Language"])
    assert languages == ("en", "zh-CN")
    said = [a["message"] for a in chinese.get_json()["detail"]["alternatives"]]
    assert said
    assert all(HAS_CJK.search(message) for message in said)
    said = [a["message"] for a in english.get_json()["detail"]["alternatives"]]
    assert not any(HAS_CJK.search(message) for message in said)
    assert len(chinese.get_data()) < 1024
