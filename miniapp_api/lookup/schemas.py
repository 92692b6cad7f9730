"""Request and response bodies of the H5 lookup."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from miniapp_api.results.schemas import ResultOut

# A code token is about 200 characters (a version 10 QR symbol holds at most 213 bytes).
MAX_CODE_CHARS = 1024


class LookupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(
        min_length=16,
        max_length=MAX_CODE_CHARS,
        description="the registration code token, as the QR symbol holds it "
        "(whitespace, e.g. from copying a wrapped line, is ignored)",
    )
    id_last4: str = Field(
        pattern=r"^[0-9A-Z]{4}$",
        description="the last 4 characters of the ID number (a final x may be lower case)",
    )

    @field_validator("code", mode="before")
    @classmethod
    def _drop_whitespace(cls, value: object) -> object:
        return "".join(value.split()) if isinstance(value, str) else value

    @field_validator("id_last4", mode="before")
    @classmethod
    def _normalize_last4(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value


class LookupOut(BaseModel):
    """One person's results: only what the mini-program would show that person, masked."""

    name_masked: str
    latest: ResultOut | None = Field(description="the newest sampling; null if never sampled")
    history: list[ResultOut] = Field(
        description="up to 5 earlier samplings, newest first (the mini-program shows them all)"
    )
