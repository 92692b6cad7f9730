"""The body of ``POST /api/v1/me/subscriptions``."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from miniapp_api.notify.schemas import SubscriptionsIn


def test_accepted_templates_are_a_short_list_of_ids() -> None:
    assert SubscriptionsIn.model_validate({"accepted": ["a", "b"]}).accepted == ["a", "b"]
    assert SubscriptionsIn.model_validate({"accepted": []}).accepted == []


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"accepted": "tpl"},
        {"accepted": [""]},
        {"accepted": ["x" * 129]},
        {"accepted": [f"t{i}" for i in range(21)]},
        {"accepted": ["tpl"], "openid": "o-client-sent"},
    ],
)
def test_anything_else_is_refused(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        SubscriptionsIn.model_validate(body)
