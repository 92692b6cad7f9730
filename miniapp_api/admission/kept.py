"""Kept screens answered at the gate, before Flask: the results and code screens of a bad
morning cost the gate's one round trip and a write of bytes.

The gate has already read, with the session, the field of the caller's account view that the
route declares (``@operation(kept=KeptScreen(...))``, ``miniapp_api/accountview.py``); it holds
a view snapshot only for a session of the very account the token names. When the field holds a
body that is still valid and was made with today's version, it is the answer, byte for byte
what the view would send (the view wrote it): the same headers, its ``ETag``, an
``X-Request-ID`` and the one access line, as Flask's hooks (``miniapp_api/logging.py``) give
every other answer. A client that already holds it (``If-None-Match`` names the kept tag) gets
a 304 with the same headers (but ``Content-Language``, which describes a body) and no body: the
tag was computed when the body was kept, so this costs a string comparison. The results screen
has words (the guidance): the gate read the field of the caller's language
(``Accept-Language``: ``results`` or ``results@en``, ``admission/routes.py``). Anything else
(nothing kept, expired, another signing key) goes on to the view, which builds the answer and
keeps it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from werkzeug.utils import get_content_type
from werkzeug.wsgi import get_path_info

from miniapp_api.accountview import PREFETCHED_VIEW, KeptScreen, ViewSnapshot, not_modified
from miniapp_api.logging import REQUEST_ID_HEADER, log_access, request_id_from

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


class KeptAnswers:
    """Answers from kept screens; ``signing_kid``: the code signing key in use."""

    def __init__(self, signing_kid: str) -> None:
        self.signing_kid = signing_kid

    def answer(
        self,
        environ: WSGIEnvironment,
        start_response: StartResponse,
        kept: tuple[KeptScreen, str],
    ) -> list[bytes] | None:
        """The kept answer, sent; ``None`` when there is none to send (the view answers)."""
        started = time.perf_counter()
        seen = environ.get(PREFETCHED_VIEW)
        if not isinstance(seen, ViewSnapshot) or environ.get("REQUEST_METHOD") != "GET":
            return None
        screen, field = kept
        found = seen.kept(field, time.time(), screen.version(self.signing_kid))
        if found is None:
            return None
        body, tag = found
        request_id = request_id_from(environ.get("HTTP_X_REQUEST_ID", ""))
        sent: list[bytes] = []
        if not_modified(environ.get("HTTP_IF_NONE_MATCH", ""), tag):
            status = 304
            unchanged = screen.unchanged_headers().items()
            start_response(
                "304 Not Modified", [*unchanged, ("ETag", tag), (REQUEST_ID_HEADER, request_id)]
            )
        else:
            status, sent = 200, [body]
            content = get_content_type(screen.mimetype, "utf-8")
            headers = [
                ("Content-Type", content),
                ("Content-Length", str(len(body))),
                *screen.headers().items(),
                ("ETag", tag),
                (REQUEST_ID_HEADER, request_id),
            ]
            start_response("200 OK", headers)
        log_access(
            "GET",
            get_path_info(environ),
            status=status,
            started=started,
            # The client's address: ProxyFix, outermost (create_app), has already taken it from
            # a trusted proxy's X-Forwarded-For, as for the gate's per-address limits.
            client=environ.get("REMOTE_ADDR") or "-",
            request_id=request_id,
        )
        return sent
