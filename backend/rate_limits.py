"""A rate limit shared by every web process, that costs no Redis round trip while it is far.

Flask-Limiter's fixed window keeps one counter per client in Redis and makes a round trip for
every request. For the public verification (an inspector's or a citizen's scan) that round
trip was most of a cached answer's cost (docs/bench-http.md), so a process takes the
window's tokens from the same counter in blocks and spends them locally:

- the counter in Redis counts tokens handed out, so no more than the limit are ever granted
  in a window, whichever process serves the requests;
- a block is at most 1/64 of what the window still has (and at most 64): near the limit, and
  for small limits such as 60 per minute, every request takes exactly one token, as before;
  far from it, 63 requests in 64 are counted in the process;
- a window found used up is refused in the process until Redis says it ends.

Tokens a process took but did not spend lapse with the window (at most 1/64 of what
remained, per process). Without Redis the limiter's own in-process storage counts as before.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from flask import Flask, Response
from flask_limiter import RateLimitExceeded, RequestLimit
from flask_limiter._limits import RuntimeLimit
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse
from limits.storage import RedisStorage
from redis import Redis
from redis.commands.core import Script
from redis.exceptions import RedisError

from backend.extensions import limiter

log = logging.getLogger(__name__)

BLOCK_SHARE, BLOCK_MAX = 64, 64
SWEEP_AT = 10_000  # held windows before the ended ones are dropped

# limits' fixed-window increment (its incr_expire.lua, as FixedWindowRateLimiter.hit runs it)
# by a block of tokens, with the time the window has left
_TAKE = Script(None, b"""
local current = redis.call("incrby", KEYS[1], ARGV[2])
if tonumber(current) == tonumber(ARGV[2]) then
    redis.call("expire", KEYS[1], ARGV[1])
end
return {current, redis.call("pttl", KEYS[1])}
""")


@dataclass
class _Window:
    tokens: int  # taken from Redis, not yet spent
    counted: int  # the counter in Redis after the last block
    ends: float  # time.monotonic() at which Redis ends the window


class Tokens:
    """The windows this process holds tokens of, per counter key (one per process)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.windows: dict[str, _Window] = {}

    def take(self, client: Redis, key: str, item: RateLimitItem) -> bool:
        """One token of the window at ``key`` (True), or none is left in it (False)."""
        spent, ask = self._spend(key, item.amount)
        if spent is not None:
            return spent
        counted, pttl = _TAKE(keys=[key], args=[item.get_expiry(), ask], client=client)
        return self._took(key, ask, int(counted), int(pttl), item.get_expiry(), item.amount)

    def _spend(self, key: str, limit: int) -> tuple[bool | None, int]:
        """(True: a local token spent, False: the window is used up, None: ask Redis), and
        how many tokens to ask for."""
        now = time.monotonic()
        with self.lock:
            window = self.windows.get(key)
            if window is None or window.ends <= now:
                return None, 1  # a new window: its count is not known here
            if window.tokens:
                window.tokens -= 1
                return True, 0
            if window.counted >= limit:
                return False, 0
            return None, max(1, min(BLOCK_MAX, (limit - window.counted) // BLOCK_SHARE))

    def _took(self, key: str, asked: int, counted: int, pttl_ms: int, window_s: int,
             limit: int) -> bool:
        """Record a block Redis granted (``counted`` after it); True when one was granted."""
        granted = max(0, min(asked, limit - (counted - asked)))
        now = time.monotonic()
        ends = now + (pttl_ms / 1000 if pttl_ms > 0 else window_s)
        with self.lock:
            if len(self.windows) >= SWEEP_AT:
                self.windows = {k: w for k, w in self.windows.items() if w.ends > now}
            window = self.windows.get(key)
            if window is None or window.ends <= now:
                window = self.windows[key] = _Window(0, counted, ends)
            window.tokens += max(0, granted - 1)
            window.counted, window.ends = max(window.counted, counted), ends
        return granted > 0

    def clear(self) -> None:
        with self.lock:
            self.windows.clear()


_held = Tokens()


class SharedLimit:
    """A limit shared by several routes (one counter per client address under ``scope``).

    It is Flask-Limiter's ``shared_limit`` with its fixed-window strategy, its storage and its
    key, taken in blocks as the module says; a breach raises the same ``RateLimitExceeded``
    (``backend.http_errors``: 429, Retry-After = the window), with the response of
    ``on_breach`` when given."""

    def __init__(self, setting: str, scope: str,
                 on_breach: Callable[[RequestLimit], Response] | None = None) -> None:
        self.setting, self.scope, self.on_breach = setting, scope, on_breach

    def hit(self, app: Flask) -> None:
        """Count this request to ``app`` (the current app, which the caller has at hand: each
        ``current_app`` lookup costs ~1.5 µs); ``RateLimitExceeded`` past the limit."""
        if not limiter.enabled:  # RATELIMIT_ENABLED=False switches every limit off
            return
        item = parsed_limit(app.extensions["settings"].values[self.setting])
        args = (get_remote_address(), self.scope)
        try:
            allowed = self._count(app.extensions["redis"], item, args)
        except RedisError:
            if not app.config["RATELIMIT_SWALLOW_ERRORS"]:
                raise
            _warn_once_a_minute(self.scope)
            allowed = True
        if not allowed:
            response = self.on_breach and self.on_breach(
                RequestLimit(limiter, item, list(args), breached=True, shared=True))
            raise RateLimitExceeded(RuntimeLimit(item, get_remote_address, self.scope,
                                                 shared=True), response=response)

    @staticmethod
    def _count(client: Redis | None, item: RateLimitItem, args: tuple[str, str]) -> bool:
        storage = limiter.storage
        if client is None or not isinstance(storage, RedisStorage):
            return limiter.limiter.hit(item, *args)
        return _held.take(client, storage.prefixed_key(item.key_for(*args)), item)


_warned = [0.0]  # when the last "out of reach" line was written


def _warn_once_a_minute(scope: str) -> None:
    """While Redis is down every request is let through: one line a minute says so, not a
    traceback per request (a busy scanner would write megabytes of them)."""
    now = time.monotonic()
    if now - _warned[0] >= 60:
        _warned[0] = now
        log.warning("rate limit storage out of reach: requests let through (said once a "
                    "minute)", exc_info=True, extra={"scope": scope})


def forget_held() -> None:
    """Drop every token this process holds (tests that reset the counters in Redis)."""
    _held.clear()


@lru_cache(maxsize=16)
def parsed_limit(limit: str) -> RateLimitItem:
    return parse(limit)
