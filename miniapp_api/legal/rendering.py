"""The legal pages as bytes: :func:`render` and :func:`content_hash`.

Rendered with a plain jinja2 ``Environment`` over ``templates/legal/`` and the data inventory
(``miniapp_api/privacy``): no Flask app and no request, so a consent recorded by a worker, a
command or a test cites the same bytes the page serves. Each page is rendered once per process
(the inputs are code and templates, which change only with a deploy).

A page never contains its own hash (it cannot): it shows its version; the hash travels in the
``X-Document-SHA256`` header, the ETag and ``GET /api/v1/legal``.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from miniapp_api.legal import content
from miniapp_api.legal.documents import DOCUMENTS
from miniapp_api.settings import templates_dir


def _templates() -> Path:
    return templates_dir() / "legal"


@cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(_templates()),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,  # a misspelt name fails the render, never shows as ""
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


@cache
def stylesheet() -> str:
    """The one stylesheet, inlined in every page and allowed by its hash in the CSP."""
    return (_templates() / "legal.css").read_text(encoding="utf-8")


def render(name: str) -> bytes:
    """The page of document ``name`` (UTF-8 HTML), identical on every call and every process
    of one deploy. Unknown ``name``: KeyError."""
    return _render(DOCUMENTS[name].name)


def content_hash(name: str) -> str:
    """Hex SHA-256 of exactly the bytes :func:`render` returns (and the page serves)."""
    return _hash(DOCUMENTS[name].name)


def render_index() -> bytes:
    """The index page (``/legal``): every document with its version. Not a document itself."""
    return _render_index()


@cache
def _render(name: str) -> bytes:
    document = DOCUMENTS[name]
    template = _environment().get_template(f"{name}.html")
    html = template.render(
        document=document,
        documents=DOCUMENTS,
        style=stylesheet(),
        **content.context(),
    )
    return html.encode("utf-8")


@cache
def _hash(name: str) -> str:
    return hashlib.sha256(_render(name)).hexdigest()


@cache
def _render_index() -> bytes:
    template = _environment().get_template("index.html")
    html = template.render(
        document=None, documents=DOCUMENTS, style=stylesheet(), **content.context()
    )
    return html.encode("utf-8")
