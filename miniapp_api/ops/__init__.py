"""Operational endpoints: health, readiness, the API description."""
