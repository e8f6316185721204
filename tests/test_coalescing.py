"""Reads gathered while one is in flight (backend.coalescing), with real threads; the fetch
is held until the others have queued, so what is gathered does not depend on timing."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from backend.coalescing import Coalescer


class Held:
    """A fetch whose first call waits until ``queued`` asks wait behind it; every call's keys
    are kept. ``fail``: which calls (0-based) raise."""

    def __init__(self, coalescer: Coalescer, queued: int, fail: tuple[int, ...] = ()) -> None:
        self.coalescer, self.queued, self.fail = coalescer, queued, fail
        self.calls: list[list[int]] = []
        self.lock = threading.Lock()

    def __call__(self, keys: list[int]) -> dict[int, str]:
        with self.lock:
            call = len(self.calls)
            self.calls.append(keys)
        if call == 0:
            deadline = time.monotonic() + 10
            while len(self.coalescer._queue) < self.queued:
                assert time.monotonic() < deadline, "the others never queued"
                time.sleep(0.001)
        if call in self.fail:
            raise ConnectionError(f"call {call} lost its connection")
        return {key: f"value {key}" for key in keys if key % 5}  # multiples of 5: no row


def ask_together(coalescer: Coalescer, fetch: Held, keys: list[int]) -> list:
    def one(key: int):
        try:
            return coalescer.get(key, fetch, "absent")
        except ConnectionError as error:
            return error

    with ThreadPoolExecutor(len(keys)) as pool:
        first = pool.submit(one, keys[0])
        deadline = time.monotonic() + 10
        while not fetch.calls:  # the first is in flight before the others ask
            assert time.monotonic() < deadline
            time.sleep(0.001)
        rest = [pool.submit(one, key) for key in keys[1:]]
        return [first.result(), *(future.result() for future in rest)]


def test_asks_made_while_one_is_in_flight_go_together_and_each_gets_its_own_value():
    coalescer = Coalescer()
    keys = [1, 2, 3, 4, 5, 6, 7, 3, 10, 11]
    fetch = Held(coalescer, queued=len(keys) - 1)
    answers = ask_together(coalescer, fetch, keys)
    assert answers == [f"value {k}" if k % 5 else "absent" for k in keys]
    assert fetch.calls[0] == [1]
    assert sorted(fetch.calls[1]) == [2, 3, 4, 5, 6, 7, 10, 11]  # once each
    assert len(fetch.calls) == 2
    assert coalescer.get(12, lambda keys: {12: "alone"}) == "alone"  # and none left in flight


def test_no_more_than_most_keys_go_in_one_fetch():
    coalescer = Coalescer(most=4)
    keys = list(range(1, 12))
    fetch = Held(coalescer, queued=10)
    answers = ask_together(coalescer, fetch, keys)
    assert answers == [f"value {k}" if k % 5 else "absent" for k in keys]
    assert [len(call) for call in fetch.calls] == [1, 4, 4, 2]


def test_a_failed_gathered_fetch_fails_its_sender_and_the_others_read_alone():
    """The second fetch (the nine queued) fails: the thread that sent it gets the error; each
    of the eight others reads its own key alone, and gets its value."""
    coalescer = Coalescer()
    keys = list(range(1, 11))
    fetch = Held(coalescer, queued=9, fail=(1,))
    answers = ask_together(coalescer, fetch, keys)
    assert answers[0] == "value 1"
    failed = [a for a in answers if isinstance(a, ConnectionError)]
    assert [str(a) for a in failed] == ["call 1 lost its connection"]
    assert sorted(a for a in answers if not isinstance(a, ConnectionError)) == sorted(
        f"value {k}" if k % 5 else "absent" for k in keys if k != keys[answers.index(failed[0])])
    assert sorted(len(call) for call in fetch.calls[2:]) == [1] * 8


@pytest.mark.parametrize("fail", [(0,), ()])
def test_one_ask_alone_goes_at_once(fail):
    coalescer = Coalescer()
    fetch = Held(coalescer, queued=0, fail=fail)
    if fail:
        with pytest.raises(ConnectionError):
            coalescer.get(1, fetch)
    assert coalescer.get(2, fetch) == "value 2"  # the failure left nothing in flight


def test_a_read_that_hangs_holds_the_others_up_no_longer_than_their_patience(caplog):
    """The first fetch hangs (a connection the network dropped): the nine that queued behind
    it wait their patience, then each reads alone; the hung one answers when it returns, and
    the next ask goes at once."""
    coalescer = Coalescer(patience=0.05)
    released = threading.Event()
    calls: list[list[int]] = []

    def fetch(keys: list[int]) -> dict[int, str]:
        calls.append(keys)
        if len(calls) == 1:
            assert released.wait(10)
        return {key: f"value {key}" for key in keys}

    with ThreadPoolExecutor(10) as pool:
        hung = pool.submit(coalescer.get, 0, fetch)
        while not calls:
            time.sleep(0.001)
        others = [pool.submit(coalescer.get, key, fetch) for key in range(1, 10)]
        assert [f.result(timeout=5) for f in others] == [f"value {k}" for k in range(1, 10)]
        assert not hung.done()
        released.set()
        assert hung.result(timeout=5) == "value 0"
    assert sorted(calls[1:]) == [[k] for k in range(1, 10)]
    assert coalescer._queue == [] and not coalescer._in_flight
    assert "a gathered read took over 0.05 s: read alone" in caplog.text
