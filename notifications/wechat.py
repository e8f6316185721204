"""The wechatpy client of the whole project, pointed at one configurable WeChat base URL.

wechatpy 1.8.18 hard-codes https://api.weixin.qq.com/ in three places (the client's API base,
the token URL and the mini-program API base). Overriding all three lets development and tests
run the same code against the local emulator (``wechat_emulator``) while production keeps the
real host. With Redis the access token is shared by every process: each ``/cgi-bin/token``
call invalidates the previous token, so per-process tokens would keep knocking each other out.

Refreshing is coordinated (``fetch_access_token``): under a lock (a Redis lock shared by all
processes, else a process lock) a client that found its token refused (40001/40014/42001)
first looks whether another process has already stored a newer one, and fetches only if not.
So a token refused by ten workers at once is refreshed once, not ten times in a row, each
invalidating the token the previous one just fetched.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Any

import requests
import wechatpy
from redis import Redis, RedisError
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
        auto_retry: bool = True,
        redis: Redis | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.API_BASE_URL = self.base_url + "cgi-bin/"
        super().__init__(appid, secret, session=session, timeout=timeout, auto_retry=auto_retry)
        self.wxa.API_BASE_URL = self.base_url
        self._http.close()
        self._http = _TimeoutSession(timeout)
        self._redis = redis
        self._used = threading.local()  # the token this thread's last call carried

    @property
    def access_token(self) -> str:
        token = super().access_token
        self._used.token = token
        return token

    @contextlib.contextmanager
    def _refresh_lock(self) -> Iterator[None]:
        """Redis's lock across processes; this process's lock when Redis does not answer."""
        lock = None
        if self._redis is not None and hasattr(self._redis, "lock"):
            lock = self._redis.lock(f"wechatpy:{self.appid}:token-refresh", timeout=30,
                                    blocking_timeout=30)
            try:
                if not lock.acquire():
                    lock = None
            except RedisError:
                lock = None
        if lock is None:
            with _PROCESS_LOCK:
                yield
            return
        try:
            yield
        finally:
            with contextlib.suppress(RedisError):
                lock.release()

    def fetch_access_token(self) -> dict[str, Any]:
        """A new token, unless another process replaced the one we used meanwhile (looked up
        before the lock too: forty first logins at once would otherwise queue on it, each
        waiting for the lock's 0.1 s polls, only to find the first one's token)."""
        stale = getattr(self._used, "token", None)
        if fresh := self._replaced(stale):
            return fresh
        with self._refresh_lock():
            if fresh := self._replaced(stale):
                return fresh
            result = self._fetch_access_token(
                url=self.base_url + "cgi-bin/token",
                params={"grant_type": "client_credential", "appid": self.appid,
                        "secret": self.secret},
            )
            self._used.token = result["access_token"]
            return result

    def _replaced(self, stale: str | None) -> dict[str, Any] | None:
        current = self.session.get(self.access_token_key)
        if current and current != stale:
            self.expires_at = None  # another process's token: trust the store's expiry
            self._used.token = current
            return {"access_token": current}
        return None

    def refresh_access_token(self) -> str:
        """After 40001/40014/42001: the token to retry with (refreshed at most once)."""
        self.fetch_access_token()
        return self.session.get(self.access_token_key)

    def close(self) -> None:
        """Release the pooled HTTP connections."""
        self._http.close()


_PROCESS_LOCK = threading.Lock()
log = logging.getLogger(__name__)


class SharedStorage(SessionStorage):
    """The token in Redis, shared by every process; in this process's memory while Redis does
    not answer, so that a Redis outage never stops WeChat calls (Redis is a cache here)."""

    def __init__(self, redis: Redis, prefix: str = "wechatpy") -> None:
        self.shared = RedisStorage(redis, prefix=prefix)
        self.local = MemoryStorage()

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self.shared.get(key, default)
        except RedisError as error:
            log.warning("token cache unavailable, using this process's copy",
                        extra={"error": str(error)})
            return self.local.get(key, default)

    def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        self.local.set(key, value, ttl)
        try:
            self.shared.set(key, value, ttl)
        except RedisError as error:
            log.warning("token not shared: Redis unavailable", extra={"error": str(error)})

    def delete(self, key: str) -> None:
        self.local.delete(key)
        with contextlib.suppress(RedisError):
            self.shared.delete(key)


def make_client(
    *, appid: str, secret: str, base_url: str, timeout: float, redis: Redis | None = None,
    auto_retry: bool = True,
) -> WeChatClient:
    """The client to use everywhere; pass ``redis`` to share the access token across processes.

    ``auto_retry=False`` leaves the refresh-and-retry-once on a refused token to the caller
    (the notification worker, which classifies every error itself).
    """
    session = SharedStorage(redis, prefix="wechatpy") if redis is not None else MemoryStorage()
    return WeChatClient(appid, secret, base_url=base_url, session=session, timeout=timeout,
                        auto_retry=auto_retry, redis=redis)
