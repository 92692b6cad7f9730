"""A platform proof that fails its schema is 422 ``validation_failed``, the fields named, never
the platform's 400: a missing phone proof, an empty field, two shapes at once, or the other
platform's shape. A proof of the right shape still goes to the platform (400 when it refuses)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.ids import cn_id
from tests.support.residents import MiniProgramUser


def refused_422(response: Any) -> list[str]:
    """The fields a 422 names (``(body)`` for the object as a whole)."""
    body = response.get_json()
    assert response.status_code == 422, body
    assert body["code"] == "validation_failed"
    return [problem["field"] for problem in body["detail"]]


@pytest.mark.parametrize(
    ("platform", "proof", "fields"),
    [
        ("wechat", {}, ["(body)"]),
        ("alipay", {}, ["(body)"]),
        ("wechat", {"code": None}, ["(body)"]),
        ("wechat", {"code": ""}, ["code"]),
        ("wechat", {"encrypted_data": "x"}, ["(body)"]),  # without its iv
        ("wechat", {"code": "x", "response": "y"}, ["(body)"]),
        ("wechat", {"response": "alipay-style"}, ["(body)"]),  # the other platform's shape
        ("alipay", {"code": "wechat-style"}, ["(body)"]),
        ("wechat", {"iv": "x" * 65, "encrypted_data": "y"}, ["iv"]),
    ],
)
def test_a_phone_proof_of_no_shape_the_platform_takes_is_422(
    request: pytest.FixtureRequest, platform: str, proof: dict[str, Any], fields: list[str]
) -> None:
    user: MiniProgramUser = request.getfixturevalue(f"{platform}_user")
    user.login()

    response = user.client.post("/api/v1/me/phone", json=proof, headers=user.auth)

    assert refused_422(response) == fields
    assert user.me()["account"]["phone_masked"] is None


def test_a_phone_proof_of_the_right_shape_goes_to_the_platform(
    wechat_user: MiniProgramUser,
) -> None:
    wechat_user.login()
    response = wechat_user.client.post(
        "/api/v1/me/phone", json={"code": "never-issued"}, headers=wechat_user.auth
    )
    assert response.status_code == 400
    assert response.get_json()["code"] == "invalid_code"


@pytest.mark.parametrize(
    ("platform", "proof"),
    [
        ("wechat", {}),
        ("wechat", {"certify_id": "alipay-style"}),
        ("alipay", {"code": "wechat-style"}),
        ("alipay", {"code": "a", "certify_id": "b"}),
    ],
)
def test_a_real_name_proof_of_no_shape_the_platform_takes_is_422(
    request: pytest.FixtureRequest, platform: str, proof: dict[str, Any]
) -> None:
    user: MiniProgramUser = request.getfixturevalue(f"{platform}_user")
    user.login()

    body = {"name": "张三", "id_type": "cn_id", "id_number": cn_id(), "real_name_proof": proof}
    response = user.client.put("/api/v1/me/profile", json=body, headers=user.auth)

    assert refused_422(response) == ["real_name_proof"]
    assert user.me()["self"] is None
