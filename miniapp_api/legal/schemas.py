"""The body of ``GET /api/v1/legal``: the documents, their versions and hashes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Bilingual(BaseModel):
    zh: str = Field(description="Simplified Chinese")
    en: str = Field(description="English")


class LegalDocumentOut(BaseModel):
    name: str = Field(description="in the page's URL and in POST /api/v1/me/consents")
    version: str = Field(description="changes whenever the page's text does")
    sha256: str = Field(
        description="hex SHA-256 of the page's exact bytes (its X-Document-SHA256 header)"
    )
    title: Bilingual
    url: str = Field(description="the page, a path on this service")
    consent: Literal["notice", "agreement", "separate"] = Field(
        description="notice: read only; agreement: agreed to before using the service; "
        "separate: the separate consent to sensitive data (PIPL Art. 29)"
    )


class LegalOut(BaseModel):
    documents: list[LegalDocumentOut]
    audience: Bilingual = Field(description="who the service is for: show it before login")
    required_for_sensitive_data: list[str] = Field(
        description="documents to consent to before declaring oneself or adding a dependent"
    )
