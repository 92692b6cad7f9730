"""The list of documents the mini-programs read (``GET /api/v1/legal``), built once per
process: every value in it is fixed for the life of a deploy."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache

from miniapp_api.legal.documents import DOCUMENTS, REQUIRED_FOR_SENSITIVE_DATA
from miniapp_api.legal.labels import AUDIENCE
from miniapp_api.legal.rendering import content_hash
from miniapp_api.legal.schemas import Bilingual, LegalDocumentOut, LegalOut


def page_url(name: str) -> str:
    return f"/legal/{name}"


@dataclass(frozen=True)
class Catalog:
    body: bytes  # the JSON answer
    etag: str  # its SHA-256


def legal_documents() -> LegalOut:
    return LegalOut(
        documents=[
            LegalDocumentOut(
                name=d.name,
                version=d.version,
                sha256=content_hash(d.name),
                title=Bilingual(zh=d.title_zh, en=d.title_en),
                url=page_url(d.name),
                consent=d.consent.value,
            )
            for d in DOCUMENTS.values()
        ],
        audience=Bilingual(zh=AUDIENCE.zh, en=AUDIENCE.en),
        required_for_sensitive_data=list(REQUIRED_FOR_SENSITIVE_DATA),
    )


@cache
def catalog() -> Catalog:
    body = legal_documents().model_dump_json().encode()
    return Catalog(body, hashlib.sha256(body).hexdigest())
