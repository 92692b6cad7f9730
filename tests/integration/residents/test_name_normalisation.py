"""A declared name is checked as it will be stored: its length after NFKC normalization, and
no control, bidirectional or zero-width characters. Refused with the 422 of every invalid body,
nothing written; names as people have them still go through."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from miniapp_api.residents.models import LinkRequest, Resident
from tests.support.ids import cn_id
from tests.support.residents import MiniProgramUser

# U+FDFA (one character) is 18 after NFKC: 64 of them pass the 64-character limit as typed.
GROWS_PAST_THE_LIMIT = "\ufdfa" * 64
REFUSED = [
    "\u202e",  # right-to-left override: 张三 would read as 三张
    "\u202a",  # left-to-right embedding
    "\u2066",  # left-to-right isolate
    "\u2069",  # pop directional isolate
    "\u200b",  # zero-width space
    "\u200d",  # zero-width joiner
    "\ufeff",  # zero-width no-break space (BOM)
    "\u00ad",  # soft hyphen
    "\x00",
    "\x07",
    "\t",
    "\n",
    "\x1b",
    "\x7f",
    "\x85",  # C1: next line
    "\x9b",  # C1: control sequence introducer
    "\u2028",  # line separator
    "\u2029",  # paragraph separator
]


def declare(user: MiniProgramUser, relation: str, name: str) -> TestResponse:
    if relation == "self":
        return user.declare(name, cn_id())
    return user.add_dependent(name, cn_id(birth="19480101"))


def nothing_stored(app: Flask, user: MiniProgramUser) -> None:
    me = user.me()
    assert (me["self"], me["dependents"], me["sent_requests"]) == (None, [], [])
    with app.extensions["miniapp"].db.session() as session:
        for model in (Resident, LinkRequest):
            assert session.scalar(select(func.count()).select_from(model)) == 0


def refused_name(response: TestResponse) -> None:
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert body["code"] == "validation_failed"
    assert [problem["field"] for problem in body["detail"]] == ["name"]


@pytest.mark.parametrize("relation", ["self", "dependent"])
def test_a_name_that_grows_past_the_limit_when_normalized_is_refused(
    app: Flask, wechat_user: MiniProgramUser, relation: str
) -> None:
    wechat_user.login()

    refused_name(declare(wechat_user, relation, GROWS_PAST_THE_LIMIT))
    nothing_stored(app, wechat_user)


@pytest.mark.parametrize("relation", ["self", "dependent"])
@pytest.mark.parametrize("character", REFUSED, ids=lambda c: f"U+{ord(c):04X}")
def test_control_and_bidi_characters_in_a_name_are_refused(
    app: Flask, wechat_user: MiniProgramUser, relation: str, character: str
) -> None:
    wechat_user.login()

    refused_name(declare(wechat_user, relation, f"张{character}三"))
    nothing_stored(app, wechat_user)


def test_the_real_name_check_refuses_such_a_name_too(
    app: Flask, wechat_user: MiniProgramUser
) -> None:
    wechat_user.login()
    body = {"name": "张\u202e三", "id_type": "cn_id", "id_number": cn_id()}

    answer = wechat_user.client.post("/api/v1/me/real-name", json=body, headers=wechat_user.auth)

    refused_name(answer)


@pytest.mark.parametrize("relation", ["self", "dependent"])
def test_a_name_with_a_middle_dot_and_wide_characters_is_accepted_and_stored_normalized(
    wechat_user: MiniProgramUser, relation: str
) -> None:
    # Guards against refusing too much: passes before and after the checks.
    wechat_user.login()

    answer = declare(wechat_user, relation, "阿依古丽·买买提\u3000")  # an ideographic space
    assert answer.status_code in (200, 201), answer.get_json()
    me = wechat_user.me()
    declared = me["self"] if relation == "self" else me["dependents"][0]
    assert declared["name_masked"] == "阿******提"


def test_a_name_of_the_full_length_after_normalization_is_accepted(
    wechat_user: MiniProgramUser,
) -> None:
    wechat_user.login()

    answer = wechat_user.declare("\ufdfa" * 3 + "a" * 10, cn_id())  # 3 x 18 + 10 = 64

    assert answer.status_code == 200, answer.get_json()
