"""Liveness and readiness, for the load balancer and the process manager."""

from __future__ import annotations

import logging

from apiflask import APIBlueprint
from flask import current_app
from sqlalchemy import text

from backend import redis_client
from backend.extensions import db

bp = APIBlueprint("health", __name__, tag="运行状态")
log = logging.getLogger(__name__)
PROBES = frozenset({"/healthz", "/readyz"})  # neither logged nor counted per request (RequestLog)


@bp.get("/healthz")
def healthz():
    """存活检查：进程在运行即返回 200"""
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    """就绪检查：数据库、文件存储（本地目录或 S3 存储桶）以及已配置的 Redis 可用时返回 200，
    否则 503 并指出故障项"""
    checks = {"database": _check_database(),
              "media": current_app.extensions["media_store"].ready()}
    if redis_client.get() is not None:
        checks["redis"] = _check_redis()
    failed = sorted(name for name, ok in checks.items() if not ok)
    body = {"status": "ready" if not failed else "unavailable",
            "checks": {name: "ok" if ok else "failed" for name, ok in checks.items()}}
    if failed:
        log.warning("not ready", extra={"failed": failed})
        return {"code": "NOT_READY", "message": "服务暂不可用：" + "、".join(failed),
                "details": body}, 503
    return body


def _check_database() -> bool:
    try:
        db.session.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        db.session.rollback()
        return False
    finally:
        db.session.remove()


def _check_redis() -> bool:
    try:
        return bool(redis_client.get().ping())
    except Exception:  # noqa: BLE001
        return False
