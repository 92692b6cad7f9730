"""Routes of the codes feature."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("codes", __name__, url_prefix="/api/v1")
