"""Routes of the legal documents: the pages (``GET /legal``, ``GET /legal/<name>``) and their
list for the mini-programs (``GET /api/v1/legal``). Public, no login, rendered once per process.

A page carries the same security headers as ``/lookup``: nothing may frame it, re-base it or
run a plugin, and it runs no script at all (``default-src 'none'``); its one inline stylesheet
is allowed by its hash. Its hash, which it cannot contain, travels in ``X-Document-SHA256`` and
its ETag.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache

from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue

from miniapp_api.api import TrafficClass, operation
from miniapp_api.errors import NotFound
from miniapp_api.legal import rendering
from miniapp_api.legal.catalog import catalog
from miniapp_api.legal.documents import DOCUMENTS
from miniapp_api.legal.schemas import LegalOut

bp = Blueprint("legal", __name__)

HASH_HEADER = "X-Document-SHA256"
VERSION_HEADER = "X-Document-Version"
# The same for everyone and nothing personal: shared caches may keep it a while (as /lookup).
CACHE_CONTROL = "public, max-age=300"


@cache
def page_policy() -> str:
    """The pages' Content-Security-Policy: no script, no request, the inline style by hash."""
    digest = hashlib.sha256(rendering.stylesheet().encode()).digest()
    style = "sha256-" + base64.b64encode(digest).decode()
    return (
        f"default-src 'none'; style-src '{style}'; form-action 'none'; "
        "base-uri 'none'; frame-ancestors 'none'"
    )


@bp.get("/legal")
@operation(
    "The legal documents' index (HTML): every document with its version",
    traffic=TrafficClass.SHEDDABLE,
    auth=False,
)
def index() -> ResponseReturnValue:
    body = rendering.render_index()
    return _page(body, hashlib.sha256(body).hexdigest())


@bp.get("/legal/<name>")
@operation(
    "A legal document (HTML, Chinese with English alongside): privacy, terms, sensitive-data, "
    "data-inventory, third-parties; its SHA-256 in X-Document-SHA256 and the ETag",
    traffic=TrafficClass.SHEDDABLE,
    auth=False,
    errors=(404,),
)
def page(name: str) -> ResponseReturnValue:
    if name not in DOCUMENTS:
        raise NotFound(
            "No such legal document.",
            code="document_not_found",
            detail={"documents": list(DOCUMENTS)},
        )
    digest = rendering.content_hash(name)
    headers = {HASH_HEADER: digest, VERSION_HEADER: DOCUMENTS[name].version}
    return _page(rendering.render(name), digest, headers)


@bp.get("/api/v1/legal")
@operation(
    "The legal documents: name, version, SHA-256 of the page, title, URL, which consent it "
    "asks for; the audience statement to show before login; the documents a sensitive write "
    "needs consent to",
    # Normal, like the profile and family writes whose consent step reads it.
    traffic=TrafficClass.NORMAL,
    auth=False,
    response=LegalOut,
)
def listing() -> ResponseReturnValue:
    found = catalog()
    response = Response(found.body, mimetype="application/json")
    response.set_etag(found.etag)
    response.headers["Cache-Control"] = CACHE_CONTROL
    return response.make_conditional(request)


def _page(body: bytes, digest: str, headers: dict[str, str] | None = None) -> ResponseReturnValue:
    """The page with its policy, cache headers and ETag; 304 when the client has it."""
    response = Response(body, mimetype="text/html", headers=headers)
    response.headers["Content-Security-Policy"] = page_policy()
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.set_etag(digest)
    return response.make_conditional(request)
