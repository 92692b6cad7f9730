"""Request and response bodies for residents, profiles, phones and dependents."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from miniapp_api.residents.identity import IdType


class ResidentOut(BaseModel):
    """A resident as the API shows it: opaque id, everything personal masked."""

    id: str
    relation: Literal["self", "dependent"]
    name_masked: str
    id_type: IdType
    id_masked: str
    phone_masked: str | None


class AccountOut(BaseModel):
    id: str
    platform: str
    phone_masked: str | None


class ConsentOut(BaseModel):
    kind: str
    document_version: str
    resident_id: str | None
    given_at: datetime


class MeOut(BaseModel):
    account: AccountOut
    self: ResidentOut | None
    dependents: list[ResidentOut]
    consents: list[ConsentOut]


class ProfileIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    id_type: IdType
    id_number: str = Field(min_length=5, max_length=32)


class PhoneIn(BaseModel):
    """What ``getPhoneNumber`` gave the mini-program; which fields depends on the platform."""

    model_config = ConfigDict(extra="forbid")

    code: str | None = Field(default=None, max_length=512, description="WeChat, new flow")
    encrypted_data: str | None = Field(default=None, max_length=4096, description="WeChat, legacy")
    iv: str | None = Field(default=None, max_length=64, description="WeChat, legacy")
    response: str | None = Field(default=None, max_length=8192, description="Alipay")

    def proof(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class PhoneOut(BaseModel):
    phone_masked: str


class DependentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    id_type: IdType
    id_number: str = Field(min_length=5, max_length=32)
    birth_date: date | None = Field(
        default=None, description="required for ID types that do not carry a birth date"
    )
    guardian_consent: bool = Field(
        default=False,
        description="the account holder confirms being the guardian; required for minors",
    )
