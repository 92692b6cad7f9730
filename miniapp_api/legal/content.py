"""What the legal pages say, as data: the inventory (``miniapp_api/privacy``) grouped for
reading, with the labels of ``labels.py``. The templates in ``templates/legal/`` only lay it out.

Everything here is ordered by declaration (enums, tables, columns), never by a set's iteration
order, which changes with the process's hash seed: a page's bytes, and so its hash, must be
the same in every process.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from functools import cache
from typing import Any, TypeVar

from miniapp_api.legal import labels, platform_apis
from miniapp_api.privacy.inventory import LOG_FIELDS, REDIS_FAMILIES, TABLES
from miniapp_api.privacy.logs import REDACTION
from miniapp_api.privacy.logs import RETENTION as LOG_RETENTION
from miniapp_api.privacy.terms import (
    BASIS_TEXT,
    Basis,
    Category,
    Personal,
    Protection,
    Recipient,
    Sensitive,
    Text,
)
from miniapp_api.settings import CodeSettings, ResidentSettings, RetentionSettings

E = TypeVar("E", bound=Enum)
T = TypeVar("T")


def in_order(kind: type[E], members: Iterable[E]) -> tuple[E, ...]:
    """``members`` in the enum's declaration order (a frozenset's own order is per process)."""
    present = set(members)
    return tuple(member for member in kind if member in present)


def unique(items: Iterable[T]) -> tuple[T, ...]:
    """``items`` without repeats, first occurrence first."""
    return tuple(dict.fromkeys(items))


@dataclass(frozen=True)
class Entry:
    """One personal entry of the inventory: a column, a Redis key family or a log field."""

    where: str  # "residents.id_enc", a Redis family's key shapes, a log field's name
    about: Text  # the table, the key family or the field
    use: Personal

    @property
    def category(self) -> Text:
        return labels.CATEGORIES[self.use.category]

    @property
    def bases(self) -> tuple[Text, ...]:
        return tuple(BASIS_TEXT[b] for b in in_order(Basis, self.use.bases))

    @property
    def recipients(self) -> tuple[Text, ...]:
        return tuple(labels.PARTIES[r].name for r in in_order(Recipient, self.use.recipients))

    @property
    def protection(self) -> Text:
        return labels.PROTECTIONS[self.use.protection]

    @property
    def sensitive(self) -> tuple[Text, ...]:
        return tuple(labels.SENSITIVE[s] for s in in_order(Sensitive, self.use.sensitive))


@dataclass(frozen=True)
class Group:
    """Entries summed up under one heading (a category, a sensitive kind, a recipient)."""

    title: Text
    entries: tuple[Entry, ...]

    @property
    def fields(self) -> tuple[str, ...]:
        return unique(e.where for e in self.entries)

    @property
    def purposes(self) -> tuple[Text, ...]:
        return unique(e.use.purpose for e in self.entries)

    @property
    def bases(self) -> tuple[Text, ...]:
        found = {b for e in self.entries for b in e.use.bases}
        return tuple(BASIS_TEXT[b] for b in in_order(Basis, found))

    @property
    def retentions(self) -> tuple[Text, ...]:
        return unique(e.use.retention for e in self.entries)

    @property
    def recipients(self) -> tuple[Text, ...]:
        found = {r for e in self.entries for r in e.use.recipients}
        return tuple(labels.PARTIES[r].name for r in in_order(Recipient, found))

    @property
    def protections(self) -> tuple[Text, ...]:
        found = {e.use.protection for e in self.entries}
        return tuple(labels.PROTECTIONS[p] for p in in_order(Protection, found))

    @property
    def categories(self) -> tuple[Text, ...]:
        found = {e.use.category for e in self.entries}
        return tuple(labels.CATEGORIES[c] for c in in_order(Category, found))


@dataclass(frozen=True)
class TableView:
    name: str
    about: Text
    entries: tuple[Entry, ...]  # its personal columns only


@dataclass(frozen=True)
class Recipients:
    """A party and what it receives from the inventory (nothing: ``group.entries`` empty)."""

    party: labels.Party
    group: Group


def column_entries() -> tuple[Entry, ...]:
    return tuple(
        Entry(f"{table.name}.{column.name}", table.about, column.use)
        for table in TABLES
        for column in table.columns
        if isinstance(column.use, Personal)
    )


def redis_entries() -> tuple[Entry, ...]:
    return tuple(
        Entry(", ".join(family.keys), family.purpose, family.holds)
        for family in REDIS_FAMILIES
        if isinstance(family.holds, Personal)
    )


def log_entries() -> tuple[Entry, ...]:
    """The log fields that hold personal information (the client's address)."""
    return tuple(
        Entry(field.name, field.about, field.holds)
        for field in LOG_FIELDS
        if isinstance(field.holds, Personal)
    )


def tables() -> tuple[TableView, ...]:
    """Tables holding personal columns, with those columns (the data-inventory page)."""
    views = (
        TableView(
            table.name,
            table.about,
            tuple(
                Entry(column.name, table.about, column.use)
                for column in table.columns
                if isinstance(column.use, Personal)
            ),
        )
        for table in TABLES
    )
    return tuple(view for view in views if view.entries)


def by_category(entries: tuple[Entry, ...]) -> tuple[Group, ...]:
    """The privacy guide's "what we collect": one group per category, in declaration order."""
    groups = (
        Group(labels.CATEGORIES[c], tuple(e for e in entries if e.use.category is c))
        for c in Category
    )
    return tuple(group for group in groups if group.entries)


def by_sensitive(entries: tuple[Entry, ...]) -> tuple[Group, ...]:
    """Sensitive entries by why they are sensitive (the separate consent, PIPL Art. 29)."""
    groups = (
        Group(labels.SENSITIVE[s], tuple(e for e in entries if s in e.use.sensitive))
        for s in Sensitive
    )
    return tuple(group for group in groups if group.entries)


def by_recipient(entries: tuple[Entry, ...]) -> tuple[Recipients, ...]:
    """Every party of :data:`labels.PARTIES`, with the entries it receives (maybe none)."""
    return tuple(
        Recipients(
            labels.PARTIES[r],
            Group(labels.PARTIES[r].name, tuple(e for e in entries if r in e.use.recipients)),
        )
        for r in Recipient
    )


@dataclass(frozen=True)
class Counts:
    """What the data-inventory page leaves out, counted: it lists personal entries only."""

    columns: int
    personal_columns: int
    redis_families: int
    personal_redis_families: int
    log_fields: int
    personal_log_fields: int


@cache
def context() -> dict[str, Any]:
    """The names every legal template may use."""
    columns, cached, logged = column_entries(), redis_entries(), log_entries()
    everything = columns + cached + logged
    return {
        "operator": labels.OPERATOR,
        "audience": labels.AUDIENCE,
        "tables": tables(),
        "redis": cached,
        "log_fields": LOG_FIELDS,
        "personal_log_fields": logged,
        "plain_log_fields": tuple(f for f in LOG_FIELDS if not isinstance(f.holds, Personal)),
        "log_redaction": REDACTION,
        "log_retention": LOG_RETENTION,
        "categories": by_category(everything),
        "sensitive": by_sensitive(everything),
        "recipients": by_recipient(everything),
        "wechat_apis": platform_apis.WECHAT_APIS,
        "alipay_apis": platform_apis.ALIPAY_APIS,
        "counts": Counts(
            columns=sum(len(t.columns) for t in TABLES),
            personal_columns=len(columns),
            redis_families=len(REDIS_FAMILIES),
            personal_redis_families=len(cached),
            log_fields=len(LOG_FIELDS),
            personal_log_fields=len(logged),
        ),
        # The rules the pages state, from the settings' defaults (their one place).
        "residents": ResidentSettings(),
        "codes": CodeSettings(),
        "retention": RetentionSettings(),
    }
