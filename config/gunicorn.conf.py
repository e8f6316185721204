"""gunicorn settings, from the environment like everything else (see .env.example).

Without REDIS_URL (the embedded default) the service is ONE process: rate limits are counted
in that process's memory and the background worker is a thread of it, so a second process
would let every limit through twice and run a second worker. More threads serve the load
instead (SQLite takes one writer at a time anyway). With REDIS_URL, limits are shared in Redis
and the worker is its own process (`flask worker`), so any number of processes is sound.
"""

import contextlib
import os
import shutil
import socket
import threading
from collections import Counter
from pathlib import Path

from config.settings import PROJECT_ROOT, SettingsError, load


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)  # empty, as in .env.example, is the default


try:
    settings = load()  # a setting that would make the service unsafe stops it here
except SettingsError as error:  # one line for the operator, not a traceback
    raise SystemExit(f"refusing to start: {error}") from None
bind = f"{settings.HOST}:{settings.PORT}"
# `gunicornc -s var/gunicorn-PORT.ctl`: gunicorn's default path is one for the whole machine
# (~/.gunicorn/gunicorn.ctl), so a second instance would take over the first one's socket
control_socket = str(PROJECT_ROOT / "var" / f"gunicorn-{settings.PORT}.ctl")
if settings.REDIS_URL:
    workers = _int("WEB_CONCURRENCY", 2)
elif _int("WEB_CONCURRENCY", 1) != 1:
    raise SystemExit("WEB_CONCURRENCY > 1 needs REDIS_URL: without it rate limits and the "
                     "background worker live in one process (config/gunicorn.conf.py)")
else:
    workers = 1
# Two or more workers each listen on a socket of their own (SO_REUSEPORT; gunicorn binds it
# in the worker) and the kernel spreads new connections evenly between them. On one shared
# socket whichever worker woke first took connections as they came: a proxy or client holding
# 32 keep-alive connections had all 32 on one worker in a quarter of tries, one core idle
# and the other serving everything (docs/bench-http.md, round 6). A stopping worker's queued
# connections move to the others only with net.ipv4.tcp_migrate_req=1 (docs/operations.md).
reuse_port = workers > 1
# ...and each runs on a CPU of its own (pre_fork, post_worker_init). A process's threads take
# turns at the GIL; left to the scheduler they ran on both cores, and every hand-over between
# cores cost far more than one on a core: pinned, bare Flask served 69 % more requests on 2
# cores and the product 40-80 % more (docs/bench-http.md, round 7). The image processes, the
# background worker and the databases stay free to run anywhere.
pinned_cpus = (sorted(os.sched_getaffinity(0))
               if reuse_port and settings.WEB_PIN_CPUS and hasattr(os, "sched_setaffinity")
               else [])
# Threads are many because most of a busy thread's time is waiting: on a slow phone's upload,
# on the image processes (media/pool.py), on the database. With few, forty photos arriving at
# once held them all and a verification queued behind (issue 20); a waiting thread costs no
# CPU, and image work is bounded by IMAGE_PROCESSES, not by threads.
threads = settings.WEB_THREADS
timeout = _int("WEB_TIMEOUT", 30)
graceful_timeout = 20
# behind a reverse proxy: X-Forwarded-Proto believed from these peers only; the app believes
# X-Forwarded-For from the same peers (PROXY_FIX_X_FOR hops, backend/proxies.py)
forwarded_allow_ips = settings.FORWARDED_ALLOW_IPS
# the app logs JSON itself; gunicorn's access log would duplicate it
accesslog = None
errorlog = "-"

# /metrics (backend/metrics.py) adds up the counts of every worker process: each keeps them in
# memory-mapped files of this directory (prometheus_client's multiprocess mode). The variable
# must be set before a worker imports prometheus_client, i.e. here, in the master; the
# directory is emptied at start (counts of an earlier run would otherwise be added in). One
# per gunicorn, named by its port: two instances on one host never mix or empty each other's
metrics_dir = Path(settings.METRICS_DIR or PROJECT_ROOT / "var" / "metrics") / str(settings.PORT)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)


def on_starting(server):
    _refuse_a_port_in_use()  # before the metrics directory of the server on it is emptied
    if reuse_port and _read("/proc/sys/net/ipv4/tcp_migrate_req") != "1":
        server.log.warning("net.ipv4.tcp_migrate_req is not 1: a reload or restart resets the "
                           "connections waiting on a stopping worker's socket "
                           "(deploy/sysctl.d/60-yiye.conf)")
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:  # not Linux, or a kernel before 5.14
        return None


def _refuse_a_port_in_use() -> None:
    """A second server started on a port already served (an old release, a forgotten `make
    run`) stops here, before it touches anything: with SO_REUSEPORT it would not fail but
    quietly take a share of the connections, and either way its start used to empty the
    running server's metrics directory (named by the port) before its bind failed. A socket
    without SO_REUSEPORT cannot bind a port something listens on: the probe."""
    family, kind, proto, _, address = socket.getaddrinfo(settings.HOST, settings.PORT,
                                                         type=socket.SOCK_STREAM)[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart's TIME_WAIT
        try:
            probe.bind(address)
        except OSError as error:
            raise SystemExit(f"refusing to start: {bind} is in use ({error.strerror})") from None


def child_exit(server, worker):
    """A worker's counters stay in the sum (a counter never goes down); only the live-gauge
    files of the dead process go (prometheus_client's multiprocess rule)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, str(metrics_dir))


def pre_fork(server, worker):
    """A new web process gets the CPU fewest live ones have: a replacement takes the place of
    the process it replaces."""
    if pinned_cpus:
        taken = Counter(getattr(other, "cpu", None) for other in server.WORKERS.values())
        worker.cpu = min(pinned_cpus, key=taken.__getitem__)


def post_worker_init(worker):
    """Each web process starts its image processes (media/pool.py) before it serves. Without
    Redis (the embedded default) background work also runs inside the web process.

    Then the ~440 000 objects the app is made of are frozen out of the garbage collector
    (``gc.freeze``): they live as long as the process, yet each full collection walked them
    all, ~0.2 s during which no request thread ran (docs/bench-http.md, round 4). Last, the
    process moves onto its CPU (``pinned_cpus``)."""
    import gc

    from media import pool

    pool.start()
    if not settings.REDIS_URL:
        from backend.worker import start_in_process

        worker.background_stop = threading.Event()
        worker.background = start_in_process(worker.wsgi, worker.background_stop)
    gc.collect()
    gc.freeze()
    if pinned_cpus:  # after the image processes started: they keep the CPUs it had
        _pin(worker.cpu)


def _pin(cpu: int) -> None:
    """Every thread of this process onto ``cpu``; threads started later inherit it."""
    for thread in os.listdir("/proc/self/task"):
        with contextlib.suppress(ProcessLookupError):  # a thread that has just ended
            os.sched_setaffinity(int(thread), {cpu})


def worker_exit(server, worker):
    """The embedded background loop stops with its web process: it finishes the step it is
    in (an archive build writes the database and the media store) before the process goes,
    instead of being cut off mid-write as a daemon thread."""
    stop, thread = getattr(worker, "background_stop", None), getattr(worker, "background", None)
    if stop is not None and thread is not None:
        stop.set()
        thread.join(timeout=graceful_timeout)
