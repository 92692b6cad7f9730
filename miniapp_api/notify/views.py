"""Routes of the notify feature."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("notify", __name__, url_prefix="/api/v1/me")
