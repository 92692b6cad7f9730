"""Every model module, imported once so Alembic and tests see the whole schema."""

from miniapp_api.auth.models import Account
from miniapp_api.db import Base
from miniapp_api.residents.models import AccountResident, Consent, Resident

metadata = Base.metadata

__all__ = ["Account", "AccountResident", "Consent", "Resident", "metadata"]
