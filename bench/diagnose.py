"""Where the time goes (`make bench PROFILE=1`): py-spy on the running workers under wrk,
and the per-request cost of logging, request ids and the limiter on their own (the cookie
session and the pool's pre-ping, measured so before issue 12, are no longer paid).

Profiles: py-spy samples every gunicorn worker while wrk drives one path; the raw stacks are
kept in var/bench/ and summarised as self time by package and inclusive time by function.
Overheads: the same app in this process, one request at a time through the WSGI test client,
with one component switched off at a time; the difference is that component's cost.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from backend import logging as app_logging
from backend.app import create_app
from backend.extensions import limiter
from bench import wrk
from bench.bare import app as bare_app
from config import settings as settings_module
from config.settings import PROJECT_ROOT

OUT = PROJECT_ROOT / "var" / "bench"
FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")
PROFILE_SECONDS = 8
OURS = {"backend", "miniprogram_api", "media", "notifications", "config"}
REQUESTS, ROUNDS = 150, 7


def run(product, env: dict[str, str], paths: dict[str, str], work: Path) -> list[str]:
    OUT.mkdir(parents=True, exist_ok=True)
    lines = []
    for name, path in paths.items():
        lines += profile(product, name, path)
    lines += overheads(env, paths, work)
    return lines


def profile(product, name: str, path: str) -> list[str]:
    """py-spy over all workers while wrk drives ``path``; a short summary of the stacks."""
    raw = OUT / f"profile-{name}.txt"
    load = threading.Thread(target=wrk.run, args=(product.url, path),
                            kwargs={"seconds": PROFILE_SECONDS + 3})
    load.start()
    time.sleep(1.5)
    py_spy = str(Path(sys.executable).parent / "py-spy")
    subprocess.run([py_spy, "record", "--pid", str(product.process.pid), "--subprocesses",
                    "--duration", str(PROFILE_SECONDS), "--rate", "250", "--nonblocking",
                    "--format", "raw", "--output", str(raw)],
                   check=True, capture_output=True)
    load.join()
    return summarise(name, path, raw)


def summarise(name: str, path: str, raw: Path, top: int = 20) -> list[str]:
    by_package, inclusive, leaf, total = Counter(), Counter(), Counter(), 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [_frame(f) for f in stack.split(";") if FRAME.match(f)]
        if not frames:
            continue
        n = int(count)
        total += n
        by_package[_package(frames[-1][1])] += n
        leaf[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    lines = [f"profile {name} ({path}): {total} samples of busy worker threads;"
             f" raw stacks in {raw.relative_to(PROJECT_ROOT)}",
             "  self time by package: " + ", ".join(
                 f"{pkg} {n / total:.0%}" for pkg, n in by_package.most_common(top))]
    lines.append("  self time by function:")
    lines += [f"    {n / total:5.1%}  {func} ({file})" for (func, file), n in leaf.most_common(12)]
    lines.append("  inclusive time in our code and the libraries it calls directly:")
    lines += [f"    {n / total:5.1%}  {func} ({file})"
              for (func, file), n in inclusive.most_common()
              if _package(file) in OURS and n / total >= 0.01][:top]
    return lines


def _frame(text: str) -> tuple[str, str]:
    match = FRAME.match(text)
    return match["func"], _short(match["file"])


def _short(file: str) -> str:
    for marker in ("site-packages/", "python3.11/", str(PROJECT_ROOT) + "/"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


def _package(file: str) -> str:
    head = file.split("/", 1)[0]
    return head.removesuffix(".py") if "/" in file or file.endswith(".py") else file


# --- per-request overheads, one component off at a time ---------------------------------


@contextmanager
def _no_access_log(app) -> Iterator[None]:
    app_logging.access_log.disabled = True
    yield
    app_logging.access_log.disabled = False


@contextmanager
def _no_request_log(app) -> Iterator[None]:
    """Without backend.logging.RequestLog: no request id, access line or request metrics."""
    saved = app.wsgi_app
    app.wsgi_app = saved.app
    yield
    app.wsgi_app = saved


@contextmanager
def _no_limiter(app) -> Iterator[None]:
    limiter.enabled = False
    yield
    limiter.enabled = True


VARIANTS: dict[str, Callable] = {
    "access log line (JSON formatter + write)": _no_access_log,
    "request id, access line and metrics together": _no_request_log,
    "rate limiter (verify: tokens taken in blocks)": _no_limiter,
}


def overheads(env: dict[str, str], paths: dict[str, str], work: Path) -> list[str]:
    """ms per request (wall, one thread, in-process) that each component costs on each path."""
    app = create_app(settings_module.load(environ=env, LOG_LEVEL="INFO"))
    handler = app_logging.logging.getLogger().handlers[0]
    handler.setStream((work / "in-process.log").open("a"))  # as gunicorn's stdout: a file
    client = app.test_client()
    bare = bare_app.test_client()
    lines = [f"per-request overheads, in-process, one thread, ms a request as wall / CPU;"
             f" a component's cost = full − without it, best of {ROUNDS} alternating batches of"
             f" {REQUESTS} (the best filters out the neighbours' load);"
             " bare Flask in-process: {:.3f} / {:.3f} ms".format(*_best(bare, "/"))]
    for name, path in paths.items():
        lines.append("  {} ({}): {:.3f} / {:.3f} ms in full".format(name, path[:40],
                                                                   *_best(client, path)))
        for label, variant in VARIANTS.items():
            full, without = _cost(app, client, path, variant)
            lines.append(f"    {label:<46} {full[0] - without[0]:+.3f} /"
                         f" {full[1] - without[1]:+.3f} ms")
    return lines


def _cost(app, client, path: str, variant: Callable) -> tuple[tuple, tuple]:
    """(wall, CPU) ms a request, best of ROUNDS, with and without the component."""
    full, without = [], []
    for _ in range(ROUNDS):
        full.append(_batch(client, path))
        with variant(app):
            without.append(_batch(client, path))
    return _min(full), _min(without)


def _best(client, path: str) -> tuple[float, float]:
    return _min([_batch(client, path) for _ in range(ROUNDS)])


def _min(batches: list[tuple[float, float]]) -> tuple[float, float]:
    return min(b[0] for b in batches), min(b[1] for b in batches)


def _batch(client, path: str) -> tuple[float, float]:
    """Mean (wall, CPU) ms of REQUESTS requests, after a few to warm up."""
    for _ in range(10):
        client.get(path)
    wall, cpu = time.perf_counter(), time.thread_time()
    for _ in range(REQUESTS):
        client.get(path)
    return ((time.perf_counter() - wall) / REQUESTS * 1000,
            (time.thread_time() - cpu) / REQUESTS * 1000)
