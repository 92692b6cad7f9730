"""The H5 lookup's own words, in Simplified Chinese and English.

- :data:`NO_MATCH`: the API's answer when a code and an ID number match nobody (the generic
  ``not_found`` of the catalogue would not say which two inputs to check);
- :data:`PAGE_ERRORS`: where the page (``GET /lookup``) says more than the catalogue about a
  code it receives, because it knows what the resident did (typed, pasted, a stale page).
  Keyed by the catalogue's codes, plus :data:`PAGE_ONLY_CODES`, failures the page meets
  before any answer.

The page shows every message in both languages, Chinese first: it receives these and the
catalogue's entries as data when it is rendered (``miniapp_api/lookup/page.py``), never by
asking the server twice.
"""

from __future__ import annotations

from miniapp_api.messages.language import Text

NO_MATCH = Text(
    "未找到匹配的结果。请核对登记码和证件号码；登记码重新生成后，只有最新的可用。",
    "No results match this registration code and ID number. Check both and try again; after "
    "a code is re-issued only the newest one works.",
)

_RELOAD = Text(
    "请求格式有误，请刷新页面后重试。", "The request was garbled; reload the page and try again."
)

# Failures the page meets without an error code from us: no answer at all, or one that is not
# our JSON (a proxy's page).
PAGE_ONLY_CODES = ("network", "error")

PAGE_ERRORS: dict[str, Text] = {
    "validation_failed": Text(
        "请检查输入：登记码为二维码中的完整文字，证件号码须完整填写（身份证为18位）。",
        "Check what you entered: the code is the whole text of its QR symbol, and the ID "
        "number is the whole number (18 characters on a mainland ID card).",
    ),
    "malformed_json": _RELOAD,
    "unsupported_media_type": _RELOAD,
    "body_too_large": Text(
        "输入的内容过长：请只粘贴二维码中的文字。",
        "What you entered is too long: paste only the text of the QR symbol.",
    ),
    "network": Text(
        "网络连接失败，请稍后再试。", "Could not reach the service; try again shortly."
    ),
    "error": Text("出错了，请稍后再试。", "Something went wrong; try again shortly."),
}
