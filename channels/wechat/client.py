"""wechatpy's ``WeChatClient``, pointed at a configured base URL, with the token from Redis.

wechatpy 1.8 keeps base URLs in class attributes, writes the token URL into
``fetch_access_token`` and a few hosts into method bodies. Everything here is per instance, so
two clients with different base URLs coexist in one process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests
import requests.adapters
from wechatpy import WeChatClient

OFFICIAL_BASE_URL = "https://api.weixin.qq.com/"

# Endpoints authenticated by appid + secret rather than an access token. wechatpy adds
# ``access_token`` to every request's query; a None value keeps it from fetching one (and
# requests leaves None parameters out of the URL), so a login never waits on the token.
_TOKENLESS = frozenset({"sns/jscode2session", "cgi-bin/token"})


class RebasedWeChatClient(WeChatClient):  # type: ignore[misc]  # wechatpy is untyped
    """A ``WeChatClient`` whose every request goes to ``base_url``.

    ``token_source`` supplies the access token (the shared Redis cache); the client never stores
    or refreshes tokens itself (``auto_retry`` is off: the adapter refreshes once, under a lock).
    """

    def __init__(
        self, app_id: str, app_secret: str, base_url: str, timeout: float, pool_size: int = 32
    ) -> None:
        super().__init__(app_id, app_secret, timeout=timeout, auto_retry=False)
        # requests keeps 10 connections per host by default; a gthread worker has more threads,
        # and every connection beyond the pool is a new TLS handshake with the platform.
        adapter = requests.adapters.HTTPAdapter(pool_connections=2, pool_maxsize=pool_size)
        for scheme in ("http://", "https://"):
            self._http.mount(scheme, adapter)
        self.base_url = base_url.rstrip("/") + "/"
        # Instance attributes shadow wechatpy's class-level base URLs for this client only.
        self.API_BASE_URL = self.base_url + "cgi-bin/"
        self.wxa.API_BASE_URL = self.base_url
        self.token_source: Callable[[], str] | None = None

    @property
    def access_token(self) -> str:
        # AttributeError, not RuntimeError: wechatpy's __new__ reads every attribute through
        # inspect.getmembers (before __init__ ran), which skips only AttributeError.
        source = self.__dict__.get("token_source")
        if source is None:
            raise AttributeError("access_token needs a token_source")
        token: str = source()
        return token

    def fetch_access_token(self) -> dict[str, Any]:
        """One ``GET /cgi-bin/token``; the caller stores the result (wechatpy's version hard-codes
        the official host and sends no timeout)."""
        result: dict[str, Any] = self.get(
            "cgi-bin/token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
            api_base_url=self.base_url,
        )
        return result

    def _request(self, method: str, url_or_endpoint: str, **kwargs: Any) -> Any:
        url = url_or_endpoint
        if not url.startswith(("http://", "https://")):
            url = kwargs.pop("api_base_url", self.API_BASE_URL) + url_or_endpoint
        if url.startswith(OFFICIAL_BASE_URL):
            # API groups other than ours keep class-level base URLs, and some write the
            # official host into their methods: none of them may escape the configured host.
            url = self.base_url + url[len(OFFICIAL_BASE_URL) :]
        if url_or_endpoint in _TOKENLESS:
            kwargs.setdefault("params", {}).setdefault("access_token", None)
        return super()._request(method, url, **kwargs)
