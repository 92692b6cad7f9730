"""Response bodies of the results lookup."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from miniapp_api.clock import UtcDateTime
from miniapp_api.messages.guidance import GuidanceCode

PersonState = Literal["pending", "negative", "positive", "retest_required", "invalid"]


class ResultOut(BaseModel):
    """One sampling of one person and what is known about it."""

    state: PersonState
    tube_no: str
    round: str
    site: str
    sampled_at: UtcDateTime
    tested_at: UtcDateTime | None
    overdue: bool = Field(description="still pending after RESULTS.OVERDUE_HOURS (48)")
    guidance_code: GuidanceCode | None = Field(
        default=None,
        description="what the guidance is about, stable for programs: positive, "
        "retest_required, invalid (sample again), overdue (pending too long); null when there "
        "is nothing to do",
    )
    guidance: str | None = Field(
        default=None,
        description="what to do now, when there is news: in the language of Content-Language "
        "(Accept-Language: zh by default, or en)",
    )


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
    """One page of the account's samplings: every resident, each with its samplings on this
    page (self first, then dependents; each person's newest first)."""

    residents: list[ResidentHistoryOut] = Field(description="self first, then dependents")
    next_cursor: str | None = Field(
        default=None,
        description="pass as ?cursor= for the next page; null on the last page",
    )


# The most samplings one page of history may hold (``?limit=``).
MAX_HISTORY_PAGE = 100


class HistoryQuery(BaseModel):
    """The query of ``GET /api/v1/results/history``; without ``limit``, everything from
    ``cursor`` on (from the start without it) in one page."""

    model_config = ConfigDict(extra="ignore")  # a cache-busting parameter is harmless

    limit: int | None = Field(
        default=None, ge=1, le=MAX_HISTORY_PAGE, description="samplings per page"
    )
    cursor: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="the next_cursor of the page before (opaque)",
    )
