"""The export's budget per account: a few copies an hour, then 429 with ``Retry-After``.

An export decrypts every personal field of a family and reads all their screening: a far
costlier answer than any screen, and the one an attacker holding a stolen session would want
most. A GCRA bucket (:mod:`miniapp_api.overload.gcra`) in the account's own slot
(``adm:{<account id>}:export``, beside its admission quota: deleting the account removes it
with the rest of the slot, ``rights/purge.py``). It is not a run-time limit of the admission
gate: an operator's change of quotas must not open it.
"""

from __future__ import annotations

import hashlib

import redis

from miniapp_api.overload.gcra import GCRA_LUA, Rate, decision
from miniapp_api.overload.rejection import Rejected, Rejection

# Three at once, then one every 20 minutes (3 an hour): a person retrying a failed download
# gets through; a script looping on a stolen session does not.
EXPORTS = Rate(per_second=3 / 3600, burst=3)

_SCRIPT_SHA = hashlib.sha1(GCRA_LUA.encode(), usedforsecurity=False).hexdigest()


def export_key(account_id: str) -> str:
    return f"adm:{{{account_id}}}:export"


def charge_export(client: redis.Redis, account_id: str, rate: Rate = EXPORTS) -> None:
    """Count one export of ``account_id``; :class:`Rejected` (429, the overload contract's
    ``rate_limited`` with ``Retry-After``) when its budget is spent. Redis errors propagate
    (503): an export is refused rather than unlimited."""
    args = (_SCRIPT_SHA, 1, export_key(account_id), *rate.script_args(share=1.0))
    try:
        reply = client.execute_command("EVALSHA", *args)  # type: ignore[no-untyped-call]
    except redis.exceptions.NoScriptError:
        client.script_load(GCRA_LUA)
        reply = client.execute_command("EVALSHA", *args)  # type: ignore[no-untyped-call]
    admitted, retry_after = decision(reply)
    if not admitted:
        raise Rejected(Rejection(429, "user_quota", max(1.0, retry_after)))
