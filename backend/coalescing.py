"""Reads of single rows by key that arrive together, gathered into one query.

Why: under load a web process's threads each wait on a database round trip of their own,
and the round trip, not the row, is what costs: ~0.2 ms of the web process's CPU and ~0.1
ms of MariaDB's for one row by a unique key, most of it the same for twenty rows
(docs/bench-http.md, round 10: the public scan of codes no process keeps went from 0.29 to
0.38 × bare Flask when gathered).

How: at most one query of a :class:`Coalescer` is in flight in a process. A thread that asks
while none is goes at once, alone (no wait is added to a quiet server). Threads that ask
while one is in flight queue up; when it returns, the thread that sent it hands the turn to
the first of them, which sends the keys of all queued (up to ``most``) in one query. Every
thread gets the value of its own key, as if it had asked alone: a key's absence is the
caller's ``default``. When a gathered query fails, the thread that sent it raises, and each
of the others reads its own key alone (its own error, if the database is really gone; its
value, if only that connection was lost). A thread that has waited ``patience`` seconds
reads alone too.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any

log = logging.getLogger(__name__)

Fetch = Callable[[list[Any]], Mapping[Any, Any]]
_ABSENT = object()


class _Ask:
    """One thread's key; ``turn`` is held until its value (or the turn to send) is given."""

    __slots__ = ("key", "turn", "value", "failed", "sends")

    def __init__(self, key: Hashable) -> None:
        self.key, self.value, self.failed, self.sends = key, _ABSENT, False, False
        self.turn = threading.Lock()
        self.turn.acquire()

    def answer(self, default: Any) -> Any:
        return default if self.value is _ABSENT else self.value


class Coalescer:
    """Concurrent ``get``s gathered into calls of ``fetch(keys) → {key: value}``: one in
    flight at a time, at most ``most`` keys each. One per kind of read and database; ``fetch``
    is given with each ``get`` (all of one coalescer's must read the same way)."""

    def __init__(self, most: int = 32, patience: float = 1.0) -> None:
        self.most, self.patience = most, patience
        self._lock = threading.Lock()
        self._queue: list[_Ask] = []
        self._in_flight = False

    def get(self, key: Hashable, fetch: Fetch, default: Any = None) -> Any:
        """The value of ``key`` as ``fetch`` reads it (``default`` when it is absent);
        ``fetch``'s error when this thread's query fails."""
        ask = _Ask(key)
        with self._lock:
            self._queue.append(ask)
            waits, self._in_flight = self._in_flight, True
        if waits:
            answered = self._waited(ask)
            if not ask.sends:
                if answered and not ask.failed:
                    return ask.answer(default)
                return fetch([key]).get(key, default)  # alone: its own error, or its value
        return self._send(ask, fetch, default)

    def _waited(self, ask: _Ask) -> bool:
        """Wait for the answer or the turn to send (True), or give up after ``patience``
        seconds (False: read alone). A read that hangs (a connection the network dropped
        without a word waits for TCP to give up, minutes) holds up the others no longer."""
        if ask.turn.acquire(timeout=self.patience):
            return True
        with self._lock:
            if ask.sends:  # the turn came as the wait ended
                return ask.turn.acquire()
            if ask in self._queue:
                self._queue.remove(ask)
        log.warning("a gathered read took over %g s: read alone", self.patience)
        return False

    def _send(self, ask: _Ask, fetch: Fetch, default: Any) -> Any:
        with self._lock:
            batch, self._queue = self._queue[:self.most], self._queue[self.most:]
        try:
            values = fetch(list(dict.fromkeys(a.key for a in batch)))
            for waiting in batch:
                waiting.value = values.get(waiting.key, _ABSENT)
        except BaseException:
            for waiting in batch:
                waiting.failed = True
            raise
        finally:
            self._hand_over(a for a in batch if a is not ask)
        return ask.answer(default)

    def _hand_over(self, answered: Iterable[_Ask]) -> None:
        """The turn to the first still queued (or none in flight now), then the answers."""
        with self._lock:
            if self._queue:
                self._queue[0].sends = True
                self._queue[0].turn.release()
            else:
                self._in_flight = False
        for waiting in answered:
            waiting.turn.release()

