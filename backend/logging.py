"""JSON structured logs, each line stamped with the request id (X-Request-ID).

The access line is written on every request, so its path is kept short: request ids come from
a per-process random prefix and a counter (no system call), and lines go to stdout gathered
into one ``write`` every 0.2 s (``_LineHandler``), without the handler lock that the request
threads would otherwise queue on.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import os
import re
import secrets
import select
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter

from backend.periodic import Periodic

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")  # the whole header (fullmatch)

access_log = logging.getLogger("yiye.access")


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class _Formatter(JsonFormatter):
    """pythonjsonlogger's lines; an access line comes written (``access_line``)."""

    def format(self, record: logging.LogRecord) -> str:
        return record.__dict__.get("line") or super().format(record)


class _LineHandler(logging.StreamHandler):
    """A stream handler that gathers formatted lines and writes them together, a few
    ``os.write`` calls of whole lines, when the stream is a real file or pipe.

    A write is a system call during which the thread gives up the interpreter lock; under load
    taking it back meant queueing behind the other request threads, once per write
    (docs/bench-http.md). Lines are written within ``FLUSH_SECONDS`` by a thread of the
    process, like nginx's buffered access log: a request thread writes only a line of WARNING
    or above (at once, after the lines before it), or when ``FLUSH_LINES`` are waiting (the
    writer has fallen behind: memory stays bounded). Request threads that wrote every 256
    lines cost /healthz 7 % of its throughput (round 6). A
    process killed outright loses at most the last ``FLUSH_SECONDS`` of access lines; an
    ordinary exit writes them (logging's shutdown flushes). Each write holds whole lines and at
    most PIPE_BUF bytes, so the lines of several processes on one pipe never splice
    (``_whole_lines``). Other streams (a test's capture) go through the ordinary locked
    path."""

    FLUSH_SECONDS, FLUSH_LINES = 0.2, 16_384  # ~5 MB of lines at most

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self._fd = self._fd_of(stream)
        self._lines: deque[str] = deque()
        self._writing = threading.Lock()
        self._flusher = Periodic("log-flush", self.FLUSH_SECONDS, self._flush_some)
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
            line = self.format(record)
        except Exception:  # noqa: BLE001 - logging must never break the request
            self.handleError(record)
            return True
        self.write_line(line, now=record.levelno >= logging.WARNING)
        return True

    def write_line(self, line: str, *, now: bool = False) -> bool:
        """Add one formatted line to the batch (``now``: write the batch at once); False when
        this stream is not batched (it has no file descriptor)."""
        if self._fd is None:
            return False
        self._lines.append(line + "\n")
        if now or len(self._lines) >= self.FLUSH_LINES:
            self.flush()
        else:
            self._flusher.ensure()
        return True

    def flush(self) -> None:
        if self._fd is None:
            super().flush()
            return
        with self._writing:  # lines leave in the order they came
            lines = []
            while self._lines:
                lines.append(self._lines.popleft())
            try:
                for chunk in _whole_lines(lines):
                    data = memoryview(chunk)
                    while data:
                        data = data[os.write(self._fd, data):]
            except OSError:  # the stream is gone (a closed pipe): nothing to write to
                pass

    def _forked(self) -> None:
        """The parent wrote its lines before the fork; its writer may have held the lock."""
        self._lines.clear()
        self._writing = threading.Lock()

    def _flush_some(self) -> None:
        if self._lines:
            self.flush()


def _whole_lines(lines: list[str]) -> Iterator[bytes]:
    """The lines in writes of whole lines of at most PIPE_BUF bytes each (a longer line
    alone). Every web process writes to the same stdout, often a pipe; the kernel keeps a
    write to a pipe whole only up to PIPE_BUF (4096 bytes on Linux): a longer one is copied in
    pieces while the pipe is full, and another process's lines land between them."""
    chunk = bytearray()
    for line in lines:
        data = line.encode()
        if chunk and len(chunk) + len(data) > select.PIPE_BUF:
            yield bytes(chunk)
            chunk.clear()
        chunk += data
    if chunk:
        yield bytes(chunk)


def access_line(request_id: str, method: str, path: str, status: int, seconds: float) -> str:
    """One request's access line, in the shape the formatter gives every line (``request_id``
    is well formed: letters, digits and ``._-``). Written straight into the batch of lines,
    not through a log record and the formatter: those cost a request as much as the rest of
    the request id, access line and metrics together (docs/bench-http.md, round 4). The
    time's text is made once a second and strings are escaped by json's C escaper (``ensure_ascii``
    as ``json.dumps``): 5.2 → ~2 µs a line (round 9)."""
    now = time.time()
    return (f'{{"time": "{_second_text(int(now))},{int(now % 1 * 1000):03d}", "level": "INFO", '
            f'"logger": "{access_log.name}", "message": "request", "request_id": "{request_id}", '
            f'"method": {_quoted(method)}, "path": {_quoted(path)}, "status": {status}, '
            f'"duration_ms": {round(seconds * 1000, 2)}}}')


_quoted = json.encoder.encode_basestring_ascii  # what json.dumps(str) does, without its checks


@functools.lru_cache(maxsize=2)
def _second_text(second: int) -> str:
    """The local time of ``second`` as logging's asctime writes it (without the milliseconds)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))


_batch: _LineHandler | None = None  # the handler configure() set up


def json_formatter() -> logging.Formatter:
    """Every line: ``{"time", "level", "logger", "message", "request_id", …the extras}``."""
    return _Formatter("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                      rename_fields={"asctime": "time", "levelname": "level", "name": "logger"})


def configure(level: str) -> None:
    """Send every log record to stdout as one JSON object (gunicorn's included)."""
    global _batch  # noqa: PLW0603 - one handler per process, as logging's root
    sys.stdout.flush()  # what was buffered before goes out first
    handler = _batch = _LineHandler(sys.stdout)
    handler.setFormatter(json_formatter())
    handler.addFilter(_RequestIdFilter())
    # what no line of ours shows is not gathered for each record: the caller's file and line
    # (a stack walk), the thread and the multiprocessing name (the logging HOWTO's
    # "Optimization"); the process id stays, gunicorn's own lines print it
    logging._srcfile = None  # noqa: SLF001 - the documented switch
    logging.logThreads = logging.logMultiprocessing = False
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


class RequestLog:
    """WSGI middleware, outermost around the app: the request id and the access line.

    Honours a well-formed ``X-Request-ID`` or makes one, returns it on every response and
    stamps every log line of the request with it (``request_id_var``). When the response
    starts it writes one access line and hands ``observe`` the matched URL rule (None when
    none matched), the method, the status and the seconds since the request came in (the
    metrics). As middleware rather than Flask hooks because this runs on every request: the
    hooks, the ``g`` and ``request`` proxies cost /healthz a third of its time
    (docs/bench-http.md, round 4). The rule is read from the request werkzeug keeps in the
    environ (``werkzeug.request``): Flask starts the response before it pops that request.

    ``probes`` (paths) pass through untouched: no id, no access line, no metrics. The load
    balancer asks every host for /readyz every second (config/haproxy.cfg), 86 400 lines a day
    a host that say nothing; a probe that fails says so in its own log line (``health``).
    """

    def __init__(self, app: Callable, observe: Callable[[str | None, str, int, float], None],
                 probes: frozenset[str] = frozenset()) -> None:
        self.app, self.observe, self.probes = app, observe, probes

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") in self.probes:
            request_id_var.set(None)  # not the id this thread's last request had
            return self.app(environ, start_response)
        incoming = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _VALID_REQUEST_ID.fullmatch(incoming) else new_request_id()
        request_id_var.set(request_id)
        started = time.perf_counter()

        def start(status: str, headers: list, exc_info=None):
            seconds = time.perf_counter() - started
            headers.append(("X-Request-ID", request_id))
            self._finished(environ, request_id, int(status[:3]), seconds)
            return start_response(status, headers, exc_info)

        return self.app(environ, start)

    def _finished(self, environ: dict, request_id: str, status: int, seconds: float
                  ) -> None:
        request = environ.get("werkzeug.request")
        rule = getattr(request, "url_rule", None)
        method = environ.get("REQUEST_METHOD", "")
        if access_log.isEnabledFor(logging.INFO):
            line = access_line(request_id, method, request.path if request is not None
                               else environ.get("PATH_INFO", ""), status, seconds)
            if _batch is None or not _batch.write_line(line):
                access_log.info("request", extra={"line": line})
        self.observe(rule.rule if rule is not None else None, method, status, seconds)
