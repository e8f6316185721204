"""The Redis connection when REDIS_URL is set; ``None`` means in-process defaults."""

from __future__ import annotations

import redis
from flask import Flask, current_app


def init_app(app: Flask) -> None:
    url = app.extensions["settings"].REDIS_URL
    app.extensions["redis"] = (
        redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2) if url else None
    )


def get() -> redis.Redis | None:
    return current_app.extensions["redis"]
