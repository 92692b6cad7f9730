"""Routes of the sampling feature."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("sampling", __name__, url_prefix="/api/v1")
