"""Every model module, imported once so Alembic and tests see the whole schema."""

from miniapp_api.audit.models import AuditEvent
from miniapp_api.codes.models import RegistrationCode
from miniapp_api.db import Base
from miniapp_api.lab.models import LabRequest
from miniapp_api.notify.models import Subscription
from miniapp_api.residents.models import Account, AccountResident, Consent, Resident
from miniapp_api.results.models import OutboxMessage, PersonResult, TubeResult, TubeResultAmendment
from miniapp_api.retention.models import RetentionProgress
from miniapp_api.sampling.models import (
    Lab,
    Sampling,
    ScanReceipt,
    ScreeningRound,
    Site,
    Staff,
    Tube,
)

metadata = Base.metadata

__all__ = [
    "Account",
    "AccountResident",
    "AuditEvent",
    "Consent",
    "Lab",
    "LabRequest",
    "OutboxMessage",
    "PersonResult",
    "RegistrationCode",
    "Resident",
    "RetentionProgress",
    "Sampling",
    "ScanReceipt",
    "ScreeningRound",
    "Site",
    "Staff",
    "Subscription",
    "Tube",
    "TubeResult",
    "TubeResultAmendment",
    "metadata",
]
