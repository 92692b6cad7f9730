"""Request and response bodies for residents, profiles, phones and dependents."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any, ClassVar, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from miniapp_api.clock import UtcDateTime
from miniapp_api.errors import ValidationFailed
from miniapp_api.residents.identity import NAME_MAX_CHARS, IdType, clean_name


class ResidentOut(BaseModel):
    """A resident as the API shows it: opaque id, everything personal masked."""

    id: str
    relation: Literal["self", "dependent"]
    name_masked: str
    id_type: IdType
    id_masked: str
    phone_masked: str | None
    verified: bool = Field(
        default=False,
        description="self only: the platform's real-name check vouched that this login is "
        "this person",
    )


class AccountOut(BaseModel):
    id: str
    platform: str
    phone_masked: str | None


# The documents that ask for consent (``ConsentUse`` other than NOTICE in
# miniapp_api/legal/documents.py; tests/integration/residents/test_consents.py holds the two
# together): an enum in /openapi.json, so a notice or a misspelt name is a 422.
ConsentDocument = Literal["privacy", "terms", "sensitive-data"]


class ConsentIn(BaseModel):
    """Agreement to a document's version, as shown to the person (``GET /api/v1/legal``)."""

    model_config = ConfigDict(extra="forbid")

    document: ConsentDocument
    version: str = Field(
        min_length=1, max_length=32, description="the version shown; only the current one"
    )


class DocumentOut(BaseModel):
    """A legal document to show and agree to."""

    name: str
    version: str
    title_zh: str
    title_en: str
    url: str = Field(description="the page to show, /legal/{name}")


class ConsentOut(BaseModel):
    """A consent on record: to a document's version, or as guardian of a family member."""

    kind: str = Field(description="the document's name, or guardian (with resident_id)")
    document_version: str
    document_sha256: str | None = Field(
        description="SHA-256 of the page agreed to; null for guardian consents"
    )
    channel: str | None = Field(description="where it was given: wechat, alipay, review")
    resident_id: str | None = Field(description="guardian: the family member it is for")
    given_at: UtcDateTime
    withdrawn_at: UtcDateTime | None
    current: bool = Field(description="given to the document's current version")


class MeaningOut(BaseModel):
    zh: str
    en: str


class ConsentWithdrawnOut(BaseModel):
    """A withdrawn consent (kept on record), what withdrawing it means, what to agree to."""

    consent: ConsentOut
    meaning: MeaningOut
    consents_required: list[DocumentOut]


class HolderOut(BaseModel):
    """Another login that holds your record: as its own self, or as a family member."""

    id: str = Field(description="the holding; DELETE /me/holders/{id} removes it")
    relation: Literal["self", "dependent"]
    platform: str
    name_masked: str | None = Field(description="the holder's own masked name, if declared")
    phone_masked: str | None
    verified: bool = Field(description="self only: the holder passed the real-name check")
    since: UtcDateTime


class LinkRequestOut(BaseModel):
    """Someone asks to hold a record you hold; approve or decline it."""

    id: str
    name_masked: str = Field(description="the person they ask to hold")
    requester_name_masked: str | None
    requester_phone_masked: str | None
    requester_platform: str
    proxy_reason: Literal["minor", "elderly", "unable"]
    created_at: UtcDateTime
    expires_at: UtcDateTime


class SentRequestOut(BaseModel):
    """A request you sent; it links when a holder approves and lapses at ``expires_at``."""

    id: str
    name_masked: str = Field(description="the name you typed, masked")
    status: Literal["pending", "approved", "declined"]
    created_at: UtcDateTime
    expires_at: UtcDateTime


class NoticeOut(BaseModel):
    kind: Literal[
        "claim_taken_over",
        "holder_removed",
        "holder_added",
        "link_requested",
        "link_approved",
        "link_declined",
    ]
    name_masked: str = Field(description="the person it concerns")
    at: UtcDateTime


class MeOut(BaseModel):
    account: AccountOut
    self: ResidentOut | None
    dependents: list[ResidentOut]
    consents: list[ConsentOut]
    consents_required: list[DocumentOut] = Field(
        description="agree to these (POST /me/consents) before declaring yourself or adding "
        "family; empty when nothing is missing"
    )
    holders: list[HolderOut] = Field(description="the other logins that hold your own record")
    link_requests: list[LinkRequestOut] = Field(description="waiting for your answer")
    sent_requests: list[SentRequestOut]
    notices: list[NoticeOut] = Field(description="the latest 20, newest first")


class PersonIn(BaseModel):
    """A name and an ID number, as the person's document has them."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=NAME_MAX_CHARS)
    id_type: IdType
    id_number: str = Field(min_length=5, max_length=32)

    @field_validator("name")
    @classmethod
    def _storable_name(cls, value: str) -> str:
        # Checked as it will be stored: length after NFKC, no control or bidi characters.
        # The name itself goes on as typed (the real-name check puts it to the platform).
        clean_name(value)  # InvalidName is a ValueError: pydantic's 422, the field named
        return value


# Per platform, the sets of fields a proof may have (channels/base.py says which the adapters
# take); another platform (the reviewers' sandbox) takes any of them.
Shapes = Mapping[str, tuple[frozenset[str], ...]]


class _PlatformProof(BaseModel):
    """What a platform's page or API gave the mini-program: one of the shapes that platform
    takes (``SHAPES``; the reviewers' sandbox takes any). Another shape, an empty object or an
    empty field fails the schema: 422 ``validation_failed``, never the platform's 400."""

    model_config = ConfigDict(extra="forbid")

    SHAPES: ClassVar[Shapes] = {}

    @field_validator("*")
    @classmethod
    def _sized(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        assert info.field_name is not None
        extra = cls.model_fields[info.field_name].json_schema_extra
        longest = extra["maxLength"] if isinstance(extra, dict) else None
        if not value:
            raise ValueError("must not be empty")
        if isinstance(longest, int) and len(value) > longest:
            raise ValueError(f"must be at most {longest} characters")
        return value

    @model_validator(mode="after")
    def _one_shape(self) -> Self:
        if frozenset(self.proof()) not in {s for shapes in self.SHAPES.values() for s in shapes}:
            raise ValueError(f"send exactly one of {_shapes(self.SHAPES.values())}")
        return self

    def proof(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v is not None}

    def proof_for(self, platform: str, field: str = "(body)") -> dict[str, str]:
        """The proof, if it is of a shape ``platform`` takes; else 422 naming ``field`` (where
        the proof is in the body) and the shapes it takes."""
        proof = self.proof()
        shapes = self.SHAPES.get(platform)
        if shapes is not None and frozenset(proof) not in shapes:
            problem = f"on {platform}, send exactly one of {_shapes([shapes])}"
            raise ValidationFailed(
                "The request body is not valid.", detail=[{"field": field, "problem": problem}]
            )
        return proof


def _shapes(groups: Iterable[tuple[frozenset[str], ...]]) -> str:
    return " or ".join("{" + ", ".join(sorted(shape)) + "}" for g in groups for shape in g)


def _proof_schema(shapes: Shapes) -> dict[str, Any]:
    """The JSON Schema of exactly one shape (the object takes no other property)."""
    return {
        "anyOf": [
            {
                "required": sorted(shape),
                "maxProperties": len(shape),
                "properties": {name: {"type": "string"} for name in sorted(shape)},
            }
            for group in shapes.values()
            for shape in group
        ]
    }


def _proof_field(max_length: int, description: str) -> Any:
    """A proof's field: a non-empty string of at most ``max_length`` characters, or absent
    (null is taken as absent; the schema shows a string only)."""
    return Field(
        default=None,
        description=description,
        json_schema_extra={"minLength": 1, "maxLength": max_length},
    )


_REAL_NAME_SHAPES: Shapes = {
    "wechat": (frozenset({"code"}),),
    "alipay": (frozenset({"certify_id"}),),
}


class RealNameProofIn(_PlatformProof):
    """What the platform's real-name page gave back; which field depends on the platform."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_proof_schema(_REAL_NAME_SHAPES))
    SHAPES = _REAL_NAME_SHAPES

    code: str | SkipJsonSchema[None] = _proof_field(
        512, "WeChat: extraData.code of the city service"
    )
    certify_id: str | SkipJsonSchema[None] = _proof_field(
        64, "Alipay: the certify_id my.startAPVerify ran"
    )


class ProfileIn(PersonIn):
    real_name_proof: RealNameProofIn | None = Field(
        default=None,
        description="the platform's real-name check of this name and ID number "
        "(POST /me/real-name first); lets the real person take over a record claimed by others",
    )


class RealNameStartOut(BaseModel):
    """How to show the platform's real-name page for a name and mainland ID number."""

    platform: Literal["wechat", "alipay", "review"]  # review: the reviewers' sandbox
    certify_id: str | None = Field(description="Alipay: pass to my.startAPVerify")
    mini_program_app_id: str | None = Field(
        description="WeChat: navigate to this mini-program (the city service's consent page)"
    )
    mini_program_path: str | None


_PHONE_SHAPES: Shapes = {
    "wechat": (frozenset({"code"}), frozenset({"encrypted_data", "iv"})),
    "alipay": (frozenset({"response"}),),
}


class PhoneIn(_PlatformProof):
    """What ``getPhoneNumber`` gave the mini-program; which fields depends on the platform."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_proof_schema(_PHONE_SHAPES))
    SHAPES = _PHONE_SHAPES

    code: str | SkipJsonSchema[None] = _proof_field(512, "WeChat, new flow")
    encrypted_data: str | SkipJsonSchema[None] = _proof_field(4096, "WeChat, legacy")
    iv: str | SkipJsonSchema[None] = _proof_field(64, "WeChat, legacy")
    response: str | SkipJsonSchema[None] = _proof_field(8192, "Alipay")


class PhoneOut(BaseModel):
    phone_masked: str


class DependentIn(PersonIn):
    birth_date: date | None = Field(
        default=None, description="required for ID types that do not carry a birth date"
    )
    guardian_consent: bool = Field(
        default=False,
        description="the account holder confirms being the guardian; required for minors",
    )
    unable_to_apply: bool = Field(
        default=False,
        description="for an adult under 60: declare (it is recorded) that they cannot apply "
        "themselves",
    )


class DependentAddedOut(BaseModel):
    """``linked``: the person is on your account now. ``pending``: a request went to whoever
    holds the record; it links when they approve (``GET /me`` shows it)."""

    status: Literal["linked", "pending"]
    dependent: ResidentOut | None
    request_id: str | None
