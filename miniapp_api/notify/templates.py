"""The subscribe-message templates this deployment sends, as a mini-program needs to know them:
per platform, each configured template with what it carries, its fields and the page it opens.

Read by ``GET /api/v1/app/config`` (``miniapp_api/appconfig``), so that the mini-programs
prompt for the configured ids instead of carrying their own copy.
"""

from __future__ import annotations

from dataclasses import dataclass

from channels.base import Platform
from miniapp_api.notify.messages import FIELDS, RESULT_PAGE
from miniapp_api.notify.notice_messages import FAMILY_PAGE, NOTICE_FIELDS
from miniapp_api.notify.schemas import MessageKind
from miniapp_api.notify.service import notice_template_ids, template_ids
from miniapp_api.settings import NotifySettings

# The page each kind of message opens (the same path in both mini-programs).
PAGES: dict[MessageKind, str] = {MessageKind.RESULT: RESULT_PAGE, MessageKind.NOTICE: FAMILY_PAGE}


@dataclass(frozen=True)
class Template:
    id: str
    kind: MessageKind
    fields: tuple[str, ...]  # the template's keys, in the order of the console
    page: str


def offered(settings: NotifySettings, platform: Platform) -> list[Template]:
    """The templates configured for ``platform``: the result template first, then the notice
    template; none for a platform without either."""
    found = []
    result = template_ids(settings).get(platform)
    if result:
        keys = tuple(f.key for f in FIELDS[platform])
        found.append(Template(result, MessageKind.RESULT, keys, PAGES[MessageKind.RESULT]))
    notice = notice_template_ids(settings).get(platform)
    if notice:
        keys = tuple(f.key for f in NOTICE_FIELDS[platform])
        found.append(Template(notice, MessageKind.NOTICE, keys, PAGES[MessageKind.NOTICE]))
    return found
