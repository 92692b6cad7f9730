"""Request and response bodies of staff login, scans and tubes."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from miniapp_api.clock import UtcDateTime

# A batch from an app that was offline for a morning: 500 scans is ~50 tubes of 10. Larger
# batches are refused whole (413 ``batch_too_large``); the app splits them.
MAX_SCANS_PER_BATCH = 500
# Bytes of a batch at most: 500 items with codes as long as any QR symbol can hold.
MAX_SCANS_BODY_BYTES = 3 * 1024 * 1024
# The largest QR symbol (version 40, level L) holds 2,953 bytes: anything longer was not
# scanned. Shorter garbage is a per-item ``invalid``, never a refused batch.
MAX_CODE_CHARS = 4096
DEFAULT_TUBE_CAPACITY = 10
TUBE_NO_PATTERN = r"^[A-Za-z0-9-]{1,32}$"


class ScanStatus(StrEnum):
    """The answer to one scanned item."""

    BOUND = "bound"  # the resident is now in the tube
    DUPLICATE = "duplicate"  # already sampled in this round (see ``first_scan``)
    INVALID = "invalid"  # not one of our codes: bad format, signature or key id; unknown code
    EXPIRED = "expired"  # a genuine code past its expiry when it was scanned
    REVOKED = "revoked"  # a code voided by re-issuing before it was scanned
    STALE_SCAN = "stale_scan"  # dated before the round opened or beyond the scan window
    TUBE_FULL = "tube_full"  # the tube holds its capacity already
    TUBE_CLOSED = "tube_closed"  # the tube was closed by staff
    TUBE_UNAVAILABLE = "tube_unavailable"  # the number is another site's or another round's


class StaffLoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    # Bounded: argon2 over megabytes of "password" would be a cheap way to burn our CPU.
    password: str = Field(min_length=1, max_length=256)


class SiteOut(BaseModel):
    id: str
    name: str


class StaffLoginOut(BaseModel):
    token: str
    expires_in: int
    site: SiteOut


class ScanItemIn(BaseModel):
    """One scan as the app recorded it, online or offline."""

    model_config = ConfigDict(extra="forbid")

    client_id: str = Field(
        pattern=r"^[A-Za-z0-9._:-]{1,64}$",
        description="unique per scan on this staff member's app; re-sending it is safe",
    )
    tube_no: str = Field(pattern=TUBE_NO_PATTERN)
    code: str = Field(max_length=MAX_CODE_CHARS, description="the registration code token")
    scanned_at: AwareDatetime = Field(
        description=(
            "device time of the scan, with its offset; a time ahead of ours counts as the time "
            "received, one before the round opened or older than SAMPLING.SCAN_WINDOW_HOURS "
            "is answered `stale_scan`"
        )
    )
    capacity: Literal[1, 5, 10, 20] | None = Field(
        default=None,
        description=(
            "for the first scan into a new tube (default 10); "
            "ignored for an existing tube, whose capacity the answer shows"
        ),
    )


class ScansIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # No max_length here: the view refuses oversized batches with 413 before this runs.
    items: list[ScanItemIn] = Field(
        min_length=1, description=f"at most {MAX_SCANS_PER_BATCH} per request"
    )


class PersonOut(BaseModel):
    """Who the scanned code belongs to, for the staff member to compare with the person."""

    name_masked: str = Field(description="the masked name the code itself carries")
    id_last4: str | None = Field(
        default=None,
        description="the ID number's last 4 characters, in a `bound` answer only (to compare "
        "with the ID card of the person just sampled); null in every other answer, so that a "
        "scan binding no one reveals nothing the code does not show (the ID number is the H5 "
        "lookup's second factor)",
    )


class TubeOut(BaseModel):
    tube_no: str
    capacity: int
    bound_count: int
    closed_at: UtcDateTime | None


class FirstScanOut(BaseModel):
    """Where and when a resident was already sampled in this round."""

    site: str
    scanned_at: UtcDateTime


class ScanAnswer(BaseModel):
    """The answer to one item; a re-sent ``client_id`` gets exactly the same answer again
    (its message in the language asked for then)."""

    client_id: str
    status: ScanStatus = Field(description="what happened, for the app: a stable code")
    message: str = Field(
        description="the same for the staff member, in the language of Content-Language "
        "(Accept-Language: zh by default, or en)"
    )
    tube_no: str
    person: PersonOut | None = None
    tube: TubeOut | None = None
    first_scan: FirstScanOut | None = None


class ScansOut(BaseModel):
    items: list[ScanAnswer] = Field(description="one answer per item, in request order")
