"""Response bodies of the results lookup."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

PersonState = Literal["pending", "negative", "positive", "retest_required", "invalid"]


class ResultOut(BaseModel):
    """One sampling of one person and what is known about it."""

    state: PersonState
    tube_no: str
    round: str
    site: str
    sampled_at: AwareDatetime
    tested_at: AwareDatetime | None
    overdue: bool = Field(description="still pending after RESULTS.OVERDUE_HOURS (48)")
    guidance: str | None = Field(default=None, description="what to do now, when there is news")


class ResidentResultsOut(BaseModel):
    id: str
    relation: Literal["self", "dependent"]
    name_masked: str
    latest: ResultOut | None = Field(description="the newest sampling; null if never sampled")
    history: list[ResultOut] = Field(description="earlier samplings, newest first")


class ResultsOut(BaseModel):
    residents: list[ResidentResultsOut] = Field(description="self first, then dependents")


class ResidentHistoryOut(BaseModel):
    id: str
    relation: Literal["self", "dependent"]
    name_masked: str
    samplings: list[ResultOut] = Field(description="every sampling, newest first")


class HistoryOut(BaseModel):
    residents: list[ResidentHistoryOut] = Field(description="self first, then dependents")
