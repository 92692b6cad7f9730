"""``GET /api/v1/app/config``: one public, cacheable answer per deployment, so the
mini-programs read template ids, app ids and document versions instead of carrying copies."""

from __future__ import annotations

import hashlib
from typing import cast

from flask import Blueprint, Response, current_app, request
from flask.typing import ResponseReturnValue

from channels.base import Platform
from miniapp_api.api import TrafficClass, operation
from miniapp_api.appconfig.schemas import (
    AppConfigOut,
    MiniprogramState,
    PlatformOut,
    TemplateOut,
)
from miniapp_api.legal.documents import DOCUMENTS
from miniapp_api.notify.messages import RESULT_PAGE
from miniapp_api.notify.templates import offered
from miniapp_api.settings import NotifySettings
from miniapp_api.wiring import Wiring, wiring

bp = Blueprint("appconfig", __name__, url_prefix="/api/v1/app")

# The same for everyone and nothing personal: shared caches may keep it a while (as
# /api/v1/legal); a new template id or document version reaches the phones within that.
CACHE_CONTROL = "public, max-age=300"
ANSWER_KEY = "appconfig.answer"  # app.extensions: the built answer (_answer)


@bp.get("/config")
@operation(
    "What the mini-programs set themselves up from: per platform our app id and the "
    "subscribe-message templates (id, kind, fields, page); the H5 lookup's URL; the legal "
    "documents' versions. Cacheable (ETag, 304)",
    # Normal, like the subscription report it prepares; it costs no I/O.
    traffic=TrafficClass.NORMAL,
    auth=False,
    response=AppConfigOut,
)
def get_config() -> ResponseReturnValue:
    body, etag = _answer()
    response = Response(body, mimetype="application/json")
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.set_etag(etag)
    return response.make_conditional(request)


def _answer() -> tuple[bytes, str]:
    """The body and its ETag, built at the app's first request: every mini-program launch asks,
    and nothing in it changes while the app runs (settings, document versions)."""
    found = current_app.extensions.get(ANSWER_KEY)
    if found is None:
        body = app_config(wiring()).model_dump_json().encode()
        found = current_app.extensions[ANSWER_KEY] = (body, hashlib.sha256(body).hexdigest())
    return cast(tuple[bytes, str], found)


def app_config(wire: Wiring) -> AppConfigOut:
    """The configuration as this deployment has it (built from settings, no I/O)."""
    settings = wire.settings
    notify = settings.notify
    return AppConfigOut(
        wechat=_platform(settings.wechat.app_id, Platform.WECHAT, notify)
        if settings.wechat
        else None,
        alipay=_platform(settings.alipay.app_id, Platform.ALIPAY, notify)
        if settings.alipay
        else None,
        h5_lookup_url=wire.rejections.lookup_url,
        documents={name: d.version for name, d in DOCUMENTS.items()},
    )


def _platform(app_id: str, platform: Platform, notify: NotifySettings) -> PlatformOut:
    return PlatformOut(
        app_id=app_id,
        open_page=RESULT_PAGE,
        templates=[
            TemplateOut(id=t.id, kind=t.kind, fields=list(t.fields), page=t.page)
            for t in offered(notify, platform)
        ],
        # Settings refuse to start with any other value (settings.MINIPROGRAM_STATES).
        miniprogram_state=cast(MiniprogramState, notify.miniprogram_state)
        if platform is Platform.WECHAT
        else None,
    )
