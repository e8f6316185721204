"""Extension objects, created unbound and bound to an app in ``create_app``."""

import logging
import time
from collections.abc import Callable
from functools import lru_cache

from flask import Response, current_app
from flask_limiter import Limiter, RateLimitExceeded, RequestLimit
from flask_limiter._limits import RuntimeLimit
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from limits import RateLimitItem, parse
from limits.storage import RedisStorage
from redis.commands.core import Script
from redis.exceptions import RedisError
from sqlalchemy import event, exc
from sqlalchemy.engine import Engine

from backend.models.base import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
limiter = Limiter(key_func=get_remote_address)
log = logging.getLogger(__name__)

IDLE_PING_SECONDS = 10.0


def ping_when_idle(engine: Engine) -> None:
    """Pessimistic disconnect handling for connections that sat idle in the pool: one that was
    checked in more than IDLE_PING_SECONDS ago is pinged at checkout, and a dead one is
    replaced before the request uses it (SQLAlchemy's "pessimistic, custom" recipe). Under
    load connections come back within milliseconds and skip the round trip; a database
    restart is found by the first checkout after a quiet spell."""

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection, record) -> None:  # noqa: ARG001
        record.info["checked_in"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, record, proxy) -> None:  # noqa: ARG001
        idle_since = record.info.get("checked_in")
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
            return
        try:
            dbapi_connection.ping(reconnect=False)
        except Exception as error:
            # the pool discards this connection and checks out (or opens) another
            raise exc.DisconnectionError(str(error)) from error


def limit_of(setting: str) -> Callable[[], str]:
    """A rate limit read from its setting (config/settings.py) at each request: every limit
    is a setting an operator can change, never a literal in a route."""
    return lambda: current_app.extensions["settings"].values[setting]


# limits' fixed-window increment (its incr_expire.lua, as FixedWindowRateLimiter.hit runs it)
# with a GET of another key beside it: one round trip instead of two
_HIT_AND_GET = Script(None, b"""
local current = redis.call("incrby", KEYS[1], ARGV[2])
if tonumber(current) == tonumber(ARGV[2]) then
    redis.call("expire", KEYS[1], ARGV[1])
end
return {current, redis.call("get", KEYS[2])}
""")


class SharedLimit:
    """A limit shared by several routes (one counter per client address under ``scope``),
    counted in the same Redis round trip as a read the route needs anyway.

    It is Flask-Limiter's ``shared_limit`` with its fixed-window strategy, its storage and its
    key, so the counter is the one Flask-Limiter would keep; a breach raises the same
    ``RateLimitExceeded`` (``backend.http_errors``: 429, Retry-After = the window), with the
    response of ``on_breach`` when given. Without Redis the limiter's own storage counts and
    nothing is read."""

    def __init__(self, setting: str, scope: str,
                 on_breach: Callable[[RequestLimit], Response] | None = None) -> None:
        self.setting, self.scope, self.on_breach = setting, scope, on_breach

    def hit(self, read: str | None = None) -> bytes | None:
        """Count this request (``RateLimitExceeded`` past the limit), and return the value of
        the Redis key ``read`` (None: absent, not asked or no Redis)."""
        item = _parsed(current_app.extensions["settings"].values[self.setting])
        args = (get_remote_address(), self.scope)
        try:
            allowed, value = self._count(item, args, read)
        except RedisError:
            if not current_app.config["RATELIMIT_SWALLOW_ERRORS"]:
                raise
            log.warning("rate limit storage out of reach: request let through",
                        exc_info=True, extra={"scope": self.scope})
            allowed, value = True, None
        if not allowed:
            response = self.on_breach and self.on_breach(
                RequestLimit(limiter, item, list(args), breached=True, shared=True))
            raise RateLimitExceeded(RuntimeLimit(item, get_remote_address, self.scope,
                                                 shared=True), response=response)
        return value

    @staticmethod
    def _count(item: RateLimitItem, args: tuple[str, str], read: str | None,
               ) -> tuple[bool, bytes | None]:
        cache, storage = current_app.extensions["redis"], limiter.storage
        if not limiter.enabled:  # RATELIMIT_ENABLED=False switches every limit off
            return True, cache.get(read) if read is not None and cache else None
        if read is not None and cache is not None and isinstance(storage, RedisStorage):
            count, value = _HIT_AND_GET(keys=[storage.prefixed_key(item.key_for(*args)), read],
                                        args=[item.get_expiry(), 1], client=cache)
            return count <= item.amount, value
        return limiter.limiter.hit(item, *args), None


@lru_cache(maxsize=16)
def _parsed(limit: str) -> RateLimitItem:
    return parse(limit)
