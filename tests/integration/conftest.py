"""Fixtures of the integration tests: a lab with its signing client, and a sampling desk whose
tubes go to that lab (tests may define a `desk` of their own)."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.support.labdata import Desk, LabClient, LabKey, make_desk, make_lab


@pytest.fixture
def lab(app: Flask) -> LabKey:
    return make_lab(app)


@pytest.fixture
def desk(app: Flask, lab: LabKey) -> Desk:
    return make_desk(app, lab)


@pytest.fixture
def lab_client(client: FlaskClient, lab: LabKey) -> LabClient:
    return LabClient(client, lab)
