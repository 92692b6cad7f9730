"""Request and response bodies of the lab upload and amend calls."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from miniapp_api.sampling.schemas import TUBE_NO_PATTERN

TubeOutcome = Literal["negative", "positive", "invalid"]


class TubeResultIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tube_no: str = Field(pattern=TUBE_NO_PATTERN)
    result: TubeOutcome
    tested_at: AwareDatetime = Field(
        description="with its UTC offset; not in the future, not before the tube's last sample"
    )


class ResultBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    results: list[TubeResultIn] = Field(
        min_length=1, description="at most LAB.MAX_BATCH (default 1000) tubes"
    )


ItemStatus = Literal[
    "accepted",  # stored and fanned out to `people` people
    "unknown_tube",  # no such tube for this lab (another lab's tube reads the same)
    "tube_open",  # the tube is not closed yet: results only for closed tubes
    "already_final",  # a result is stored; corrections go through .../amend
    "tested_in_future",  # tested_at is ahead of the server's clock
    "tested_before_sampling",  # tested_at is before the tube's last sample was scanned
    "duplicate_in_batch",  # the tube appears earlier in this batch
]


class ItemOut(BaseModel):
    tube_no: str
    status: ItemStatus
    people: int | None = Field(default=None, description="when accepted")
    current_result: TubeOutcome | None = Field(default=None, description="when already_final")


class BatchOut(BaseModel):
    accepted: int
    rejected: int
    items: list[ItemOut] = Field(description="one per uploaded result, in the same order")


class AmendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    result: TubeOutcome
    tested_at: AwareDatetime = Field(
        description="not in the future, not before the tube's last sample (422 otherwise)"
    )
    reason: str = Field(min_length=3, max_length=500, description="why the result changes")


class AmendmentOut(BaseModel):
    previous_result: TubeOutcome
    new_result: TubeOutcome
    previous_tested_at: AwareDatetime
    reason: str
    amended_at: AwareDatetime


class AmendOut(BaseModel):
    tube_no: str
    status: Literal["amended", "unchanged"]
    result: TubeOutcome
    tested_at: AwareDatetime
    version: int = Field(description="how many amendments the result has had")
    people: int | None = Field(default=None, description="people re-notified, when amended")
    history: list[AmendmentOut] = Field(description="oldest first")
