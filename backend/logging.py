"""JSON structured logs, each line stamped with the request id (X-Request-ID).

The access line is written on every request, so its path is kept short: request ids come from
a per-process random prefix and a counter (no system call), and lines go to stdout gathered
into one ``write`` every 0.2 s (``_LineHandler``), without the handler lock that the request
threads would otherwise queue on.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import secrets
import sys
import threading
import time
from collections import deque
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
    """A stream handler that gathers formatted lines and writes them together with one
    ``os.write`` when the stream is a real file or pipe.

    A write is a system call during which the thread gives up the interpreter lock; under load
    taking it back meant queueing behind the other request threads, once per access line
    (docs/bench-http.md). Lines are written within ``FLUSH_SECONDS`` by a thread of the
    process, at once from ``FLUSH_LINES`` lines on, and at once with any line of WARNING or
    above (which goes out after the lines before it), like nginx's buffered access log. A
    process killed outright loses at most the last ``FLUSH_SECONDS`` of access lines; an
    ordinary exit writes them (logging's shutdown flushes). Other streams (a test's capture)
    go through the ordinary locked path."""

    FLUSH_SECONDS, FLUSH_LINES = 0.2, 256

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self._fd = self._fd_of(stream)
        self._lines: deque[str] = deque()
        self._writing = threading.Lock()
        self._flusher: int | None = None  # pid whose thread flushes (gunicorn forks)
        os.register_at_fork(before=self.flush, after_in_child=self._forked)

    def setStream(self, stream):  # noqa: N802 - logging's name
        self.flush()
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
            self._lines.append(self.format(record) + "\n")
        except Exception:  # noqa: BLE001 - logging must never break the request
            self.handleError(record)
            return True
        if record.levelno >= logging.WARNING or len(self._lines) >= self.FLUSH_LINES:
            self.flush()
        elif self._flusher != os.getpid():
            self._start_flusher()
        return True

    def flush(self) -> None:
        if self._fd is None:
            super().flush()
            return
        with self._writing:  # lines leave in the order they came
            lines = []
            while self._lines:
                lines.append(self._lines.popleft())
            data = memoryview("".join(lines).encode())
            try:
                while data:
                    data = data[os.write(self._fd, data):]
            except OSError:  # the stream is gone (a closed pipe): nothing to write to
                pass

    def _forked(self) -> None:
        """The parent wrote its lines before the fork; its writer may have held the lock."""
        self._lines.clear()
        self._writing = threading.Lock()

    def _start_flusher(self) -> None:
        with self._writing:
            if self._flusher == os.getpid():
                return
            self._flusher = os.getpid()
        threading.Thread(target=self._flush_every, name="log-flush", daemon=True).start()

    def _flush_every(self) -> None:
        while True:
            time.sleep(self.FLUSH_SECONDS)
            if self._lines:
                self.flush()


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
