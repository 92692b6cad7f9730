"""The per-item answers of ``POST /api/v1/sampling/scans``, in Simplified Chinese (staff apps
are Chinese: the default) and English.

Keyed by the item's ``status`` (``sampling/schemas.py``, ``ScanStatus``): the program reads
the status, the staff member reads the message. Placeholders: ``{tube_no}``; ``{site}`` and
``{time}`` of the first sampling (``duplicate``); ``{hours}``, the scan window
(``stale_scan``).
"""

from __future__ import annotations

from miniapp_api.messages.language import Language, Text

SCAN_MESSAGES: dict[str, Text] = {
    "bound": Text("已绑定到试管 {tube_no}。", "Bound to tube {tube_no}."),
    "duplicate": Text(
        "此人本轮已在{site}采样（{time}）。", "Already sampled in this round at {site}, {time}."
    ),
    "invalid": Text(
        "不是有效的登记码，请对方重新出示。",
        "Not a valid registration code; ask the person to show it again.",
    ),
    "expired": Text(
        "登记码已过期，请对方在小程序中获取新码。",
        "The code has expired; the person needs a new code in the mini-program.",
    ),
    "revoked": Text(
        "此码已被新码取代，请对方出示当前的码。",
        "This code was replaced by a newer one; ask for the current code.",
    ),
    "stale_scan": Text(
        "扫码时间早于本轮开始或已超过 {hours} 小时，请检查设备时钟后重新扫码。",
        "The scan time is before this round opened or over {hours} hours ago; check the "
        "device's clock and scan the code again.",
    ),
    "tube_full": Text(
        "试管 {tube_no} 已满，请换新试管。", "Tube {tube_no} is full; use a new tube."
    ),
    "tube_closed": Text(
        "试管 {tube_no} 已封管，请换新试管。", "Tube {tube_no} is closed; use a new tube."
    ),
    "tube_unavailable": Text(
        "试管 {tube_no} 不能在此使用，请换新试管。",
        "Tube {tube_no} cannot be used here; use a new tube.",
    ),
}


def scan_message(status: str, language: Language, **values: str) -> str:
    """The message of an item answered ``status``, in ``language``."""
    return SCAN_MESSAGES[status].in_(language).format(**values)
