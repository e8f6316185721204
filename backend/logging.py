"""JSON structured logs, each line stamped with the request id (X-Request-ID).

The access line is written on every request, so its path is kept short: request ids come from
a per-process random prefix and a counter (no system call), and a line goes to stdout in one
``write`` without the handler lock that the request threads would otherwise queue on.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import secrets
import sys
import time
from contextvars import ContextVar

from flask import Flask, g, request
from pythonjsonlogger.json import JsonFormatter

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

access_log = logging.getLogger("yiye.access")


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class _LineHandler(logging.StreamHandler):
    """A stream handler that writes each formatted line with one ``os.write`` when the stream
    is a real file or pipe: the kernel keeps whole lines apart (up to PIPE_BUF on a pipe), so
    the threads need not take turns on the handler lock. Other streams (a test's capture) go
    through the ordinary locked path."""

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self._fd = self._fd_of(stream)

    def setStream(self, stream):  # noqa: N802 - logging's name
        self._fd = self._fd_of(stream)
        return super().setStream(stream)

    @staticmethod
    def _fd_of(stream) -> int | None:
        try:
            return stream.fileno()
        except (AttributeError, OSError, ValueError):
            return None

    def handle(self, record: logging.LogRecord) -> bool:
        if self._fd is None:
            return bool(super().handle(record))
        if not self.filter(record):
            return False
        try:
            data = memoryview((self.format(record) + "\n").encode())
            while data:
                data = data[os.write(self._fd, data):]
        except Exception:  # noqa: BLE001 - logging must never break the request
            self.handleError(record)
        return True


def configure(level: str) -> None:
    """Send every log record to stdout as one JSON object (gunicorn's included)."""
    sys.stdout.flush()  # what was buffered before goes out first
    handler = _LineHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
    ))
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


class _RequestIds:
    """32 hex characters: 16 random per process, then a counter. Unique without a system call
    per request; a forked worker draws its own prefix."""

    def __init__(self) -> None:
        self.reseed()
        os.register_at_fork(after_in_child=self.reseed)

    def reseed(self) -> None:
        self._prefix, self._counter = secrets.token_hex(8), itertools.count()

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter):016x}"


new_request_id = _RequestIds().next


def init_app(app: Flask) -> None:
    """Honour a well-formed X-Request-ID or make one; return it and log one access line."""

    @app.before_request
    def _start() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _VALID_REQUEST_ID.match(incoming) else new_request_id()
        g.started = time.perf_counter()
        request_id_var.set(g.request_id)

    @app.after_request
    def _finish(response):
        request_id = g.get("request_id") or new_request_id()
        response.headers["X-Request-ID"] = request_id
        if access_log.isEnabledFor(logging.INFO):
            started = g.get("started")
            access_log.info("request", extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2)
                if started else None,
            })
        return response
