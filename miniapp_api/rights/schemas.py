"""Bodies of account deletion and of the export (a copy of everything held, decrypted)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from miniapp_api.clock import UtcDateTime


class DeleteAccountIn(BaseModel):
    """The confirmation a deletion needs, so no stray request erases an account."""

    model_config = ConfigDict(extra="forbid")

    confirm: Literal["DELETE"] = Field(description='exactly "DELETE"')


class DeletionOut(BaseModel):
    """What the deletion removed, as counts (the account and its data are gone)."""

    residents_removed: int = Field(description="self and dependents no other login holds")
    residents_kept: int = Field(
        description="held by another login too: only this login's link to them went"
    )
    results_anonymised: int = Field(
        description="samplings of removed residents kept without identity until the results' "
        "retention ends"
    )
    codes_removed: int
    consents_removed: int
    link_requests_removed: int
    notices_removed: int
    subscriptions_removed: int
    pushes_removed: int
    links_removed: int


# --- the export ------------------------------------------------------------------------------


class ExportAccountOut(BaseModel):
    id: str
    platform: str
    app_id: str = Field(description="our mini-program's app id on that platform")
    subject: str = Field(description="your openid (WeChat) or user id (Alipay) with us")
    unionid: str | None
    phone: str | None = Field(description="the platform-verified phone number, in full")
    session_key_held: bool = Field(
        description="whether WeChat's session key of your last login is kept (encrypted; a "
        "credential, never exported)"
    )
    created_at: UtcDateTime
    last_login_at: UtcDateTime


class ExportCodeOut(BaseModel):
    """A registration code issued (its token is never kept, so never exported)."""

    issued_at: UtcDateTime
    expires_at: UtcDateTime
    revoked_at: UtcDateTime | None


class ExportAmendmentOut(BaseModel):
    previous_result: str
    new_result: str
    previous_tested_at: UtcDateTime
    reason: str
    amended_at: UtcDateTime


class ExportResultOut(BaseModel):
    state: str = Field(description="negative, positive, retest_required or invalid")
    tested_at: UtcDateTime
    updated_at: UtcDateTime
    tube_result: str | None = Field(description="the lab's current result of the whole tube")
    amendments: list[ExportAmendmentOut] = Field(
        description="corrections of the tube's result, oldest first"
    )


class ExportSamplingOut(BaseModel):
    round: str
    site: str
    tube_no: str
    tube_capacity: int = Field(description="1 for a single tube, else pooled")
    scanned_at: UtcDateTime
    result: ExportResultOut | None = Field(description="null while pending")


class ExportResidentOut(BaseModel):
    id: str
    relation: Literal["self", "dependent"]
    proxy_reason: str | None = Field(description="dependent: the rule that lets you hold them")
    verified_at: UtcDateTime | None = Field(description="self: the real-name check vouched")
    held_since: UtcDateTime
    name: str
    id_type: str
    id_number: str
    phone: str | None
    birth_date: date | None
    created_at: UtcDateTime
    updated_at: UtcDateTime
    codes: list[ExportCodeOut]
    samplings: list[ExportSamplingOut] = Field(description="newest first")


class ExportConsentOut(BaseModel):
    kind: str
    resident_id: str | None
    document_version: str
    document_sha256: str | None
    channel: str | None
    given_at: UtcDateTime
    withdrawn_at: UtcDateTime | None


class ExportNoticeOut(BaseModel):
    kind: str
    name_masked: str
    push_status: str
    created_at: UtcDateTime


class ExportSubscriptionOut(BaseModel):
    template_id: str
    remaining: int
    updated_at: UtcDateTime


class ExportPushOut(BaseModel):
    """A result message to this login: queued or sent."""

    status: str
    version: int = Field(description="0: the first result; n: after the n-th amendment")
    created_at: UtcDateTime
    sent_at: UtcDateTime | None


class ExportLinkRequestOut(BaseModel):
    id: str
    direction: Literal["sent", "received"] = Field(
        description="sent by you, or asking to hold a record you hold"
    )
    name_masked: str = Field(description="the name the requester typed, masked")
    proxy_reason: str
    status: str
    created_at: UtcDateTime
    expires_at: UtcDateTime
    decided_at: UtcDateTime | None


class ExportOut(BaseModel):
    """Everything held about this login and the people it holds (PIPL Art. 45)."""

    format: Literal["miniapp-export/1"] = "miniapp-export/1"
    generated_at: UtcDateTime
    account: ExportAccountOut
    residents: list[ExportResidentOut] = Field(description="self first, then dependents")
    consents: list[ExportConsentOut]
    notices: list[ExportNoticeOut]
    subscriptions: list[ExportSubscriptionOut]
    pushes: list[ExportPushOut]
    link_requests: list[ExportLinkRequestOut]
