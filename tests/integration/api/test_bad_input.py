"""Bad input gets a clear 4xx in the error shape and changes nothing."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.support.ids import cn_id, with_wrong_check_digit
from tests.support.phones import EmulatorPhone
from tests.support.residents import MiniProgramUser


def assert_error(response, status: int, code: str | None = None) -> dict:  # type: ignore[no-untyped-def]
    body = response.get_json()
    assert response.status_code == status, body
    assert set(body) == {"code", "message", "detail"}
    if code is not None:
        assert body["code"] == code
    return body


def test_malformed_json_is_400(client: FlaskClient) -> None:
    response = client.post(
        "/api/v1/auth/wechat", data=b'{"code": ', content_type="application/json"
    )
    assert_error(response, 400, "malformed_json")


def test_a_body_that_is_not_json_is_415(client: FlaskClient) -> None:
    response = client.post("/api/v1/auth/wechat", data={"code": "x"})
    assert_error(response, 415, "unsupported_media_type")


def test_missing_field_is_422_naming_the_field(client: FlaskClient) -> None:
    body = assert_error(client.post("/api/v1/auth/wechat", json={}), 422, "validation_failed")
    assert body["detail"][0]["field"] == "code"


def test_extra_field_is_422(client: FlaskClient) -> None:
    response = client.post("/api/v1/auth/alipay", json={"auth_code": "x", "admin": True})
    assert_error(response, 422, "validation_failed")


def test_reused_login_code_is_refused(client: FlaskClient, phone: EmulatorPhone) -> None:
    code, _ = phone.wechat_login()
    assert client.post("/api/v1/auth/wechat", json={"code": code}).status_code == 200
    body = assert_error(
        client.post("/api/v1/auth/wechat", json={"code": code}), 400, "invalid_code"
    )
    assert body["detail"]["platform_code"] == 40029


def test_expired_login_code_is_refused(client: FlaskClient, phone: EmulatorPhone) -> None:
    code, _ = phone.alipay_login()
    phone.expire_codes()
    assert_error(client.post("/api/v1/auth/alipay", json={"auth_code": code}), 400, "invalid_code")


def test_client_sent_openid_is_ignored(client: FlaskClient, phone: EmulatorPhone) -> None:
    victim = MiniProgramUser(client, phone, "wechat")
    victim.login()
    victim.declare("受害者", cn_id())
    code, _ = phone.wechat_login()  # an attacker's own wx.login code

    response = client.post("/api/v1/auth/wechat", json={"code": code, "openid": victim.subject})

    assert response.status_code == 200
    body = response.get_json()
    assert body["self"] is None
    assert body["account"]["id"] != victim.me()["account"]["id"]


def test_wrong_check_digit_is_422_and_saves_nothing(wechat_user: MiniProgramUser) -> None:
    wechat_user.login()
    wechat_user.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"  # the raise site's reason
    response = wechat_user.declare("张三", with_wrong_check_digit(cn_id()))
    body = assert_error(response, 422, "invalid_id_number")
    assert "check digit" in body["message"]
    assert wechat_user.me()["self"] is None


def test_impossible_birth_date_is_422(wechat_user: MiniProgramUser) -> None:
    wechat_user.login()
    assert_error(wechat_user.declare("张三", cn_id(birth="19900231")), 422, "invalid_id_number")


def test_unknown_id_type_is_422(wechat_user: MiniProgramUser) -> None:
    wechat_user.login()
    assert_error(wechat_user.declare("张三", "E12345678", id_type="driver_license"), 422)


def test_passport_gets_a_format_check(wechat_user: MiniProgramUser) -> None:
    wechat_user.login()
    assert wechat_user.declare("Jane Doe", "E12345678", id_type="passport").status_code == 200
    assert_error(wechat_user.declare("Jane Doe", "E1234-56789$", id_type="passport"), 422)


def test_requests_without_a_session_are_401(client: FlaskClient) -> None:
    assert_error(client.get("/api/v1/me"), 401, "unauthorized")
    assert_error(client.get("/api/v1/me", headers={"Authorization": "Bearer not-a-token"}), 401)


def test_unknown_route_is_404_in_the_error_shape(client: FlaskClient) -> None:
    assert_error(client.get("/api/v1/nothing-here"), 404, "not_found")


def test_phone_proof_of_the_wrong_shape_is_422(wechat_user: MiniProgramUser) -> None:
    wechat_user.login()
    response = wechat_user.client.post(
        "/api/v1/me/phone", json={"response": "alipay-style"}, headers=wechat_user.auth
    )
    assert_error(response, 422, "validation_failed")
    assert wechat_user.me()["account"]["phone_masked"] is None


def test_reused_phone_code_is_refused(wechat_user: MiniProgramUser, phone: EmulatorPhone) -> None:
    wechat_user.login()
    assert wechat_user.subject
    code = phone.wechat_phone_code(wechat_user.subject, "13812345678")
    first = wechat_user.client.post(
        "/api/v1/me/phone", json={"code": code}, headers=wechat_user.auth
    )
    again = wechat_user.client.post(
        "/api/v1/me/phone", json={"code": code}, headers=wechat_user.auth
    )
    assert first.status_code == 200
    assert_error(again, 400, "invalid_code")


def test_legacy_phone_with_another_apps_watermark_is_refused(
    wechat_user: MiniProgramUser, phone: EmulatorPhone
) -> None:
    wechat_user.login()
    assert wechat_user.subject
    proof = phone.wechat_phone_legacy(wechat_user.subject, "13812345678", appid="wxsomeoneelse")
    response = wechat_user.client.post("/api/v1/me/phone", json=proof, headers=wechat_user.auth)
    assert_error(response, 400, "invalid_payload")
    assert wechat_user.me()["account"]["phone_masked"] is None


def test_legacy_phone_flow_binds_the_phone(
    wechat_user: MiniProgramUser, phone: EmulatorPhone
) -> None:
    wechat_user.login()
    assert wechat_user.subject
    proof = phone.wechat_phone_legacy(wechat_user.subject, "13812345678")
    response = wechat_user.client.post("/api/v1/me/phone", json=proof, headers=wechat_user.auth)
    assert response.status_code == 200, response.get_json()
    assert wechat_user.me()["account"]["phone_masked"] == "138****5678"


def test_tampered_alipay_phone_payload_is_refused(
    alipay_user: MiniProgramUser, phone: EmulatorPhone
) -> None:
    alipay_user.login()
    assert alipay_user.subject
    payload = phone.alipay_phone(alipay_user.subject, "13812345678")
    tampered = payload.replace('"sign":"', '"sign":"AAAA', 1)
    assert tampered != payload
    response = alipay_user.client.post(
        "/api/v1/me/phone", json={"response": tampered}, headers=alipay_user.auth
    )
    assert_error(response, 400, "invalid_payload")
