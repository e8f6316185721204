"""Image work in processes of its own, so a rush of photos cannot starve cheap requests.

Re-encoding a 12 MP photo costs ~200 ms of CPU (docs/bench-media.txt). Done on a web thread,
forty phones uploading at once kept every thread and both cores busy, and a verification
that needs 11 ms waited 3.6 s (issue 20). Here :func:`normalise` runs in a bounded pool of
processes per web process (``IMAGE_PROCESSES``), started at boot (or first use) from a forkserver
(never forked from the threaded web process) and at a lower CPU priority (nice +IMAGE_NICE):
when web threads and image work both want a core the kernel runs the web threads first, and
uploads use what is left. The waiting web thread holds neither the GIL nor, in
backend.services.materials, a database connection. A decoder that crashes takes down an image
process, not the web process: the pool starts afresh and tries the file once more.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from media import images
from media.errors import MediaRejected

IMAGE_NICE = 10  # the kernel's weight for nice 10 is ~1/10 of nice 0's
_lock = threading.Lock()
_processes = 2
_executor: ProcessPoolExecutor | None = None
# the CPUs the process may use before gunicorn pins a web process to one (Linux only)
_CPUS = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None


def configure(processes: int) -> None:
    """Set the pool's size (the app factory, from IMAGE_PROCESSES); takes effect at the next
    start of the pool. 0 runs the work in the calling thread (debugging, and tests that
    change media.images in this process)."""
    global _processes  # noqa: PLW0603 - one pool per process, like a connection pool
    if processes < 0:
        raise ValueError("IMAGE_PROCESSES must not be negative")
    _processes = processes


def normalise(path: str, **options) -> images.Normalised:
    """:func:`media.images.normalise` of the file at ``path`` in an image process: same
    options, result and MediaRejected refusals. The upload travels as a file, so a web
    process holds no copy while it waits. If an image process dies (on this file or before
    it), the pool starts afresh and the file is tried once more; UPLOAD_CORRUPT if it dies
    again."""
    if not _processes:
        return _normalise_file(path, options)
    for _ in range(2):
        executor = _pool()
        try:
            return executor.submit(_normalise_file, path, options).result()
        except BrokenProcessPool:
            _discard(executor)
        except RuntimeError:
            if executor is _executor:
                raise  # the work's own error, not a pool another thread has just shut down
    raise MediaRejected("UPLOAD_CORRUPT")


def start() -> set[int]:
    """Start the image processes now rather than at the first upload (a web process at boot:
    the first photos of the morning should not wait for interpreters to start); returns
    their process ids."""
    if not _processes:
        return set()
    executor = _pool()
    return {future.result() for future in [executor.submit(_ready)
                                           for _ in range(_processes)]}


def _image_process(cpus: set[int] | None) -> None:
    """At a lower priority, and on the CPUs the web process had when it loaded this module:
    it may since be pinned to one (config/gunicorn.conf.py), and a process inherits its
    starter's CPUs."""
    os.nice(IMAGE_NICE)
    if cpus:
        os.sched_setaffinity(0, cpus)


def _ready() -> int:
    time.sleep(0.2)  # busy long enough that each start task finds a process of its own
    return os.getpid()


def _normalise_file(path: str, options: dict) -> images.Normalised:
    return images.normalise(Path(path).read_bytes(), **options)


def _pool() -> ProcessPoolExecutor:
    global _executor  # noqa: PLW0603
    with _lock:
        if _executor is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["media.pool"])
            _executor = ProcessPoolExecutor(_processes, mp_context=context,
                                            initializer=_image_process, initargs=(_CPUS,))
        return _executor


def _discard(broken: ProcessPoolExecutor) -> None:
    global _executor  # noqa: PLW0603
    with _lock:
        if _executor is broken:
            _executor = None
    broken.shutdown(wait=False, cancel_futures=True)
