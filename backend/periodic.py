"""One background thread per process that calls something every few seconds."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable


class Periodic:
    """Calls ``action`` every ``seconds`` from one daemon thread of this process, started by
    the first ``ensure()``. gunicorn forks its workers after the app may have started one: a
    forked process has no thread of its parent's, so its first ``ensure()`` starts its own."""

    def __init__(self, name: str, seconds: float, action: Callable[[], None]) -> None:
        self._name, self._seconds, self._action = name, seconds, action
        self._forked()
        os.register_at_fork(after_in_child=self._forked)

    def _forked(self) -> None:
        self._lock, self._running = threading.Lock(), False

    def ensure(self) -> None:
        """Start the thread unless this process has it (cheap: called on every request)."""
        if self._running:
            return
        with self._lock:
            if self._running:
                return
            self._running = True
        threading.Thread(target=self._run, name=self._name, daemon=True).start()

    def _run(self) -> None:
        while True:
            time.sleep(self._seconds)
            self._action()
