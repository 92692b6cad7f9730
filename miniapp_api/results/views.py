"""Routes of the results feature: the resident's lookup (critical) and history (sheddable,
in pages: ``results/history.py``).

The lookup's body is kept in the caller's account view (``miniapp_api/accountview.py``), which
the admission gate has usually read already: then it is sent as it is, with no other round trip.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TypeVar, cast

from flask import Blueprint, Response, current_app, request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ValidationError

from miniapp_api.accountview import RESULTS_SCREEN, ViewSnapshot
from miniapp_api.api import TrafficClass, kept_answer, operation
from miniapp_api.errors import ValidationFailed
from miniapp_api.messages import CONTENT_LANGUAGE, DEFAULT, Language, language_of
from miniapp_api.results import service
from miniapp_api.results.history import history_page
from miniapp_api.results.schemas import HistoryOut, HistoryQuery, ResultsOut
from miniapp_api.sessions import require_session
from miniapp_api.wiring import wiring

bp = Blueprint("results", __name__, url_prefix="/api/v1")
Q = TypeVar("Q", bound=BaseModel)


@bp.get("/results")
@operation(
    "Latest result and history for self and each dependent",
    traffic=TrafficClass.CRITICAL,
    response=ResultsOut,
    errors=(401, 409, 503),
    kept=RESULTS_SCREEN,
)
def get_results() -> ResponseReturnValue:
    wire = wiring()
    caller = require_session(wire.sessions)
    # Kept per language, as the gate reads it (``admission/routes.py``): results, results@en.
    screen = RESULTS_SCREEN.in_(language_of(request.environ))

    def build(seen: ViewSnapshot) -> tuple[bytes, float]:
        now = datetime.now(UTC)
        out = _account_results(caller.account_id, seen, now, screen.language or DEFAULT)
        body = cast(Response, current_app.json.response(out.model_dump(mode="json"))).get_data()
        return body, service.valid_until(out, wire.settings.results, now).timestamp()

    kid = wire.settings.codes.signing_key.kid
    return kept_answer(wire.views, caller.account_id, screen, kid, build)


@bp.get("/results/history")
@operation(
    "Every sampling of self and each dependent, in pages (?limit=, ?cursor=): the first "
    "thing shed under overload",
    traffic=TrafficClass.SHEDDABLE,
    response=HistoryOut,
    errors=(401, 409, 422, 503),
)
def get_history() -> ResponseReturnValue:
    caller = require_session(wiring().sessions)
    query = _parse_query(HistoryQuery)
    language = language_of(request.environ)
    results = _account_results(caller.account_id, language=language)
    page = history_page(results, limit=query.limit, cursor=query.cursor)
    return page.model_dump(mode="json"), 200, _spoken(language)


def _parse_query(model: type[Q]) -> Q:
    """The query string as ``model``: 422 naming the parameter, as a body's fields are."""
    try:
        return model.model_validate(request.args.to_dict())
    except ValidationError as exc:
        problems = [
            {"field": ".".join(str(p) for p in e["loc"]) or "(query)", "problem": e["msg"]}
            for e in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        raise ValidationFailed("The query is not valid.", detail=problems) from None


def _spoken(language: Language) -> dict[str, str]:
    """The headers of an answer with words in ``language`` (as a kept screen's)."""
    return {"Content-Language": CONTENT_LANGUAGE[language], "Vary": "Accept-Language"}


def _account_results(
    account_id: str,
    seen: ViewSnapshot | None = None,
    now: datetime | None = None,
    language: Language = DEFAULT,
) -> ResultsOut:
    wire = wiring()
    with wire.db.session() as session:
        return service.account_results(
            session,
            account_id,
            client=wire.redis,
            readmodel=wire.readmodel,
            settings=wire.settings.results,
            now=now or datetime.now(UTC),
            seen=seen,
            language=language,
        )
