"""The wechatpy client of the whole project, pointed at one configurable WeChat base URL.

wechatpy 1.8.18 hard-codes https://api.weixin.qq.com/ in three places (the client's API base,
the token URL and the mini-program API base). Overriding all three lets development and tests
run the same code against the local emulator (``wechat_emulator``) while production keeps the
real host. With Redis the access token is shared by every process: each ``/cgi-bin/token``
call invalidates the previous token, so per-process tokens would keep knocking each other out.
"""

from __future__ import annotations

from typing import Any

import requests
import wechatpy
from redis import Redis
from wechatpy.session import SessionStorage
from wechatpy.session.memorystorage import MemoryStorage
from wechatpy.session.redisstorage import RedisStorage

from config.settings import WECHAT_PRODUCTION_BASE


class _TimeoutSession(requests.Session):
    """wechatpy fetches the access token without any timeout; give every request one."""

    def __init__(self, timeout: float | None) -> None:
        super().__init__()
        self.default_timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().request(method, url, **kwargs)


class WeChatClient(wechatpy.WeChatClient):
    """wechatpy's client with every URL under ``base_url``; mini-program calls are on ``.wxa``."""

    def __init__(
        self,
        appid: str,
        secret: str,
        *,
        base_url: str = WECHAT_PRODUCTION_BASE,
        session: SessionStorage | None = None,
        timeout: float | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.API_BASE_URL = self.base_url + "cgi-bin/"
        super().__init__(appid, secret, session=session, timeout=timeout)
        self.wxa.API_BASE_URL = self.base_url
        self._http.close()
        self._http = _TimeoutSession(timeout)

    def fetch_access_token(self) -> dict[str, Any]:
        return self._fetch_access_token(
            url=self.base_url + "cgi-bin/token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )

    def close(self) -> None:
        """Release the pooled HTTP connections."""
        self._http.close()


def make_client(
    *, appid: str, secret: str, base_url: str, timeout: float, redis: Redis | None = None
) -> WeChatClient:
    """The client to use everywhere; pass ``redis`` to share the access token across processes."""
    session = RedisStorage(redis, prefix="wechatpy") if redis is not None else MemoryStorage()
    return WeChatClient(appid, secret, base_url=base_url, session=session, timeout=timeout)
