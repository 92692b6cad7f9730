"""Names operators give to sites, labs and rounds."""

from __future__ import annotations

import pytest

from miniapp_api.sampling.setup import SetupRefused, clean_name


def test_names_are_normalized() -> None:
    assert clean_name("site", "  浦东  Site\u3000 7 ") == "浦东 Site 7"
    assert clean_name("round", "２０２２-03-16 Pudong") == "2022-03-16 Pudong"


@pytest.mark.parametrize("name", ["", "   ", "A|B", "tab\x07bell", "x" * 129])
def test_names_the_read_model_cannot_hold_are_refused(name: str) -> None:
    with pytest.raises(SetupRefused):
        clean_name("site", name)
