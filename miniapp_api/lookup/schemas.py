"""Request and response bodies of the H5 lookup."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from miniapp_api.residents.identity import normalize
from miniapp_api.results.schemas import ResultOut

# A code token is about 200 characters (a version 10 QR symbol holds at most 213 bytes).
MAX_CODE_CHARS = 1024
# The whitespace a copied, wrapped code may carry; dropped. ASCII only: the same set in Python
# and in the document's (ECMA) pattern, where \s would mean more than str.split() drops.
_SPACE = r"[ \t\n\r\f\v]"
# Mainland ID numbers have 18 characters, passports and permits 8 to 17: room to spare, and a
# bound on what is compared.
MAX_ID_CHARS = 32


class LookupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(
        min_length=16,
        max_length=MAX_CODE_CHARS,
        # At least 16 characters besides the whitespace dropped below (the pattern says so to
        # clients; min_length alone would count the spaces).
        pattern=rf"^{_SPACE}*(?:[^{_SPACE[1:-1]}]{_SPACE}*){{16,}}$",
        description="the registration code token, as the QR symbol holds it "
        "(whitespace, e.g. from copying a wrapped line, is ignored)",
    )
    id_number: str = Field(
        min_length=5,
        max_length=MAX_ID_CHARS,
        pattern=r"^[0-9A-Z]+$",
        description="the full ID number of the person the code belongs to (spaces and dashes "
        "are ignored, a final x may be lower case); the second factor: no code screen shows it",
    )

    @field_validator("code", mode="before")
    @classmethod
    def _drop_whitespace(cls, value: object) -> object:
        return re.sub(_SPACE, "", value) if isinstance(value, str) else value

    @field_validator("id_number", mode="before")
    @classmethod
    def _normalize_id(cls, value: object) -> object:
        # The same normalization as the stored number's (residents.identity), so the two compare.
        return normalize(value) if isinstance(value, str) else value


class LookupOut(BaseModel):
    """One person's results: only what the mini-program would show that person, masked."""

    name_masked: str
    latest: ResultOut | None = Field(description="the newest sampling; null if never sampled")
    history: list[ResultOut] = Field(
        description="up to 5 earlier samplings, newest first (the mini-program shows them all)"
    )
