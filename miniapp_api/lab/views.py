"""Routes of the lab feature."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("lab", __name__, url_prefix="/api/v1/lab")
