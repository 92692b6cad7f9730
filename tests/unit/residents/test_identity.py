"""ID document rules: GB 11643 for mainland ID cards, formats for the others, masking."""

from __future__ import annotations

from datetime import date

import pytest

from miniapp_api.residents.identity import (
    IdType,
    InvalidIdNumber,
    age_on,
    mask_id_number,
    mask_name,
    mask_phone,
    parse_id,
)
from tests.support.ids import cn_id, with_wrong_check_digit

TODAY = date(2022, 3, 16)


def test_a_published_sample_id_number_is_valid() -> None:
    # The GB 11643-1999 worked example.
    doc = parse_id(IdType.CN_ID, "11010519491231002X", today=TODAY)
    assert doc.birth_date == date(1949, 12, 31)
    assert doc.number == "11010519491231002X"


def test_lowercase_x_and_spaces_are_normalized() -> None:
    assert parse_id(IdType.CN_ID, "110105 19491231 002x", today=TODAY).number.endswith("X")


@pytest.mark.parametrize(
    ("number", "problem"),
    [
        (with_wrong_check_digit(cn_id()), "check digit"),
        (cn_id(birth="19900230"), "not a date"),
        (cn_id(birth="20300101"), "out of range"),
        ("31011519900307123", "17 digits"),
        ("3101151990030712345", "17 digits"),
        ("31011519900307X234", "17 digits"),
        ("010115199003071234", "region"),
    ],
)
def test_bad_mainland_id_numbers_are_refused_with_the_reason(number: str, problem: str) -> None:
    with pytest.raises(InvalidIdNumber, match=problem):
        parse_id(IdType.CN_ID, number, today=TODAY)


@pytest.mark.parametrize(
    ("id_type", "number", "valid"),
    [
        (IdType.PASSPORT, "E12345678", True),
        (IdType.PASSPORT, "X1234", True),
        (IdType.PASSPORT, "E1234$678", False),
        (IdType.PASSPORT, "E12", False),
        (IdType.HK_MACAU_PERMIT, "H12345678", True),
        (IdType.HK_MACAU_PERMIT, "M1234567890", True),
        (IdType.HK_MACAU_PERMIT, "CA1234567", True),
        (IdType.HK_MACAU_PERMIT, "K12345678", False),
        (IdType.TAIWAN_PERMIT, "12345678", True),
        (IdType.TAIWAN_PERMIT, "1234567", False),
    ],
)
def test_other_documents_get_format_checks(id_type: IdType, number: str, valid: bool) -> None:
    if valid:
        assert parse_id(id_type, number).number == number
    else:
        with pytest.raises(InvalidIdNumber):
            parse_id(id_type, number)


def test_masks_keep_only_what_a_staff_member_needs() -> None:
    assert mask_id_number("310115199003071234") == "310***********1234"
    assert mask_phone("13812345678") == "138****5678"
    assert mask_name("张三") == "张*"
    assert mask_name("欧阳娜娜") == "欧**娜"
    assert mask_name("Jane") == "J***"


def test_age_counts_birthdays() -> None:
    assert age_on(date(2008, 3, 17), TODAY) == 13
    assert age_on(date(2008, 3, 16), TODAY) == 14
