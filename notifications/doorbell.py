"""Wake the worker early: a Redis list used as a doorbell, never as a queue.

After a commit that added outbox rows, ``ring`` pushes one token (best effort); a worker
blocked in ``Doorbell.wait`` (``BRPOP``) wakes and polls the outbox at once. A token carries no
work: the outbox table is the queue of record, so a lost token, a Redis restart or no Redis at
all only delays delivery until the worker's next poll (WORKER_POLL_SECONDS). Without Redis
(the embedded default) a process-local event wakes the in-process worker the same way.
"""

from __future__ import annotations

import logging
import threading

import redis as redis_lib

log = logging.getLogger(__name__)

KEY = "yiye:outbox:doorbell"
MAX_TOKENS = 64  # more would only make idle workers spin; one token wakes one worker
_local = threading.Event()


def ring(redis: redis_lib.Redis | None) -> None:
    _local.set()
    if redis is None:
        return
    try:
        with redis.pipeline(transaction=False) as pipe:
            pipe.lpush(KEY, "1").ltrim(KEY, 0, MAX_TOKENS - 1).execute()
    except redis_lib.RedisError as error:
        log.warning("doorbell not rung; the worker's poll will find the work",
                    extra={"error": str(error)})


class Doorbell:
    """The worker's side; ``wait`` returns when rung or after ``timeout`` seconds."""

    def __init__(self, redis_url: str | None, *, max_wait: float) -> None:
        # a client of its own: the blocking read outlasts the shared client's socket timeout
        self.redis = (redis_lib.Redis.from_url(redis_url, socket_timeout=max_wait + 5,
                                               socket_connect_timeout=2)
                      if redis_url else None)

    def wait(self, timeout: float) -> bool:
        timeout = max(timeout, 0.01)
        if self.redis is not None:
            try:
                return self.redis.brpop([KEY], timeout=timeout) is not None
            except redis_lib.RedisError as error:
                log.warning("doorbell unavailable; polling", extra={"error": str(error)})
        rung = _local.wait(timeout)
        _local.clear()
        return rung

    def close(self) -> None:
        if self.redis is not None:
            self.redis.close()
