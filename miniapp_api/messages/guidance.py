"""What a resident should do about a result, in Simplified Chinese and English.

Each result entry of ``GET /api/v1/results``, ``/results/history`` and the H5 lookup carries
a stable ``guidance_code`` (for programs: a mini-program may show its own words or an icon)
and ``guidance``, this table's text in the caller's language. A code names the situation,
not the sentence: the words may change, the codes do not.
"""

from __future__ import annotations

from typing import Literal, get_args

from miniapp_api.messages.language import Language, Text

GuidanceCode = Literal["positive", "retest_required", "invalid", "overdue"]
GUIDANCE_CODES: tuple[GuidanceCode, ...] = get_args(GuidanceCode)

GUIDANCE: dict[GuidanceCode, Text] = {
    "positive": Text(
        "您的样本检测结果为阳性。请留在原地，卫生工作人员会与您联系，请按他们的指引行事。",
        "Your sample tested positive. Stay where you are; health staff will contact you. "
        "Follow their instructions.",
    ),
    "retest_required": Text(
        "您所在的混采试管检测为阳性，这并不代表您本人阳性。请留在原地等待单管复检，"
        "工作人员会与您联系。",
        "Your pooled tube tested positive, which does not mean you are. Stay where you are "
        "and wait for a single-tube re-test; staff will contact you.",
    ),
    "invalid": Text(
        "您的样本无法检测，请到任一采样点重新采样。",
        "Your sample could not be tested. Please get sampled again at any sampling site.",
    ),
    # A pending result past RESULTS.OVERDUE_HOURS: {hours}, and {site} where it was taken.
    "overdue": Text(
        "采样已超过 {hours} 小时仍无结果。请向采样点（{site}）询问您的样本，您可能需要重新采样。",
        "No result yet, more than {hours} hours after sampling. Please ask the sampling site "
        "({site}) about your sample; you may need to be sampled again.",
    ),
}


def guidance_code(state: str, *, overdue: bool) -> GuidanceCode | None:
    """The guidance for a result in ``state`` (``overdue``: pending for too long), if any."""
    if overdue:
        return "overdue"
    return state if state in GUIDANCE else None


def guidance_text(code: GuidanceCode, language: Language, **values: object) -> str:
    """``code``'s guidance in ``language``; ``values`` fill its placeholders (``overdue``:
    ``hours`` and ``site``; the others have none)."""
    return GUIDANCE[code].in_(language).format(**values)
