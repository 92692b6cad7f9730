"""The reviewer login's body (the answer is an ordinary login's, ``auth.schemas.LoginOut``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from miniapp_api.review.accounts import MAX_PASSWORD_CHARS


class ReviewLoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(
        min_length=1,
        max_length=32,
        pattern=r"^[a-z0-9_-]+$",
        description="the reviewer's name, as configured (REVIEW.ACCOUNTS)",
    )
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_CHARS)
