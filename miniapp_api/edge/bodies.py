"""The edge's rejection bodies, rendered by the app's own contract (``overload.rejection``).

HAProxy answers with log-format files: our :func:`~miniapp_api.overload.rejection.render`
output with two holes it fills per answer, the jittered ``retry_after`` (a transaction
variable, also sent as ``Retry-After``) and the alternatives for the caller's channel (looked
up in ``alternatives.map``, rendered here per channel).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from miniapp_api.overload.rejection import Rejection
from miniapp_api.overload.renderer import RejectionRenderer

CHANNELS = ("wechat", "alipay", "h5", "other")  # overload.rejection.channel_of's answers
RETRY_VAR = "txn.retry_after"
CHANNEL_VAR = "txn.channel"
# The edge refuses for two reasons: the caller's quota (429) and a full or slow queue (503).
QUOTA = Rejection(429, "user_quota", 1.0)
SHEDDING = Rejection(503, "queue_full", 1.0)
# And answers for a node that died mid-request (502) or did not answer in time (504): the
# same body for both (HAProxy's http-error sets the status), instead of HAProxy's HTML page.
NODE_FAILED = Rejection(502, "node_failed", 1.0)
_RETRY_HOLE = "@@retry_after@@"
_ALTERNATIVES_HOLE = "@@alternatives@@"


@dataclass(frozen=True)
class Body:
    status: int
    log_format: str  # the lf-file's text


def edge_body(renderer: RejectionRenderer, rejection: Rejection, alternatives_map: str) -> Body:
    """The log-format body of ``rejection`` (the same for every channel but for the map)."""
    status, _, raw = renderer.render(rejection, "other")
    doc = json.loads(raw)
    doc["detail"]["retry_after"] = _RETRY_HOLE
    doc["detail"]["alternatives"] = _ALTERNATIVES_HOLE
    # Not ASCII-escaped: the Chinese messages as UTF-8 keep the body under 1 KB.
    text = json.dumps(doc, ensure_ascii=False).replace("%", "%%")  # '%' starts an expression
    text = text.replace(json.dumps(_RETRY_HOLE), f"%[var({RETRY_VAR})]")
    text = text.replace(
        json.dumps(_ALTERNATIVES_HOLE), f"%[var({CHANNEL_VAR}),map({alternatives_map})]"
    )
    return Body(status, text)


def alternatives_map(renderer: RejectionRenderer) -> str:
    """``<channel> <alternatives JSON>`` per line, taken from a rendered rejection."""
    lines = ["# What works instead, per channel: rendered by `miniapp edge render`.\n"]
    for channel in CHANNELS:
        _, _, raw = renderer.render(SHEDDING, channel)
        found = json.loads(raw)["detail"]["alternatives"]
        lines.append(f"{channel} {json.dumps(found, ensure_ascii=False)}\n")
    return "".join(lines)
