"""The log redaction filter masks anything that still looks like an ID or a phone number."""

from __future__ import annotations

from miniapp_api.logging import redact


def test_id_numbers_and_phones_are_masked() -> None:
    line = "user 31011519900307123X phone 13812345678 and +8613900001111"
    assert redact(line) == "user 310***********123X phone 138****5678 and +86139****1111"


def test_other_numbers_are_left_alone() -> None:
    assert redact("took 1234567 ms, tube 00012345678901") == "took 1234567 ms, tube 00012345678901"
