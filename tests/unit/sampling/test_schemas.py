"""The scan contract: what a batch item must look like, checked before any work."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from miniapp_api.sampling.schemas import MAX_CODE_CHARS, ScanItemIn, ScansIn

GOOD: dict[str, Any] = {
    "client_id": "6f1c2a9e-3b7d-4c55-9a0e-1d2f3a4b5c6d",
    "tube_no": "SH-0000123",
    "code": "anything: the code is judged per item, not here",
    "scanned_at": "2022-03-16T09:30:00+08:00",
}


def test_a_good_item_parses_with_the_default_capacity_left_open() -> None:
    item = ScanItemIn.model_validate(GOOD)
    assert item.capacity is None
    assert item.scanned_at.utcoffset() is not None


@pytest.mark.parametrize("capacity", [1, 5, 10, 20])
def test_the_four_tube_sizes_are_accepted(capacity: int) -> None:
    assert ScanItemIn.model_validate({**GOOD, "capacity": capacity}).capacity == capacity


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("scanned_at", "2022-03-16T09:30:00"),  # no offset
        ("scanned_at", "yesterday"),
        ("capacity", 2),
        ("capacity", 0),
        ("tube_no", ""),
        ("tube_no", "T" * 33),
        ("tube_no", "T/1"),
        ("client_id", ""),
        ("client_id", "x" * 65),
        ("client_id", "has space"),
        ("code", "A" * (MAX_CODE_CHARS + 1)),
    ],
)
def test_items_breaking_the_contract_are_refused(field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        ScanItemIn.model_validate({**GOOD, field: value})
    assert caught.value.errors()[0]["loc"] == (field,)


def test_garbage_that_a_scanner_could_read_is_not_a_contract_error() -> None:
    for code in ("", "张三", "https://example.com/shop", "A" * MAX_CODE_CHARS):
        assert ScanItemIn.model_validate({**GOOD, "code": code}).code == code


def test_unknown_fields_and_empty_batches_are_refused() -> None:
    with pytest.raises(ValidationError):
        ScanItemIn.model_validate({**GOOD, "staff_id": 1})
    with pytest.raises(ValidationError):
        ScansIn.model_validate({"items": []})
