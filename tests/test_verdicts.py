"""Public verdicts kept in each web process (verification.Verdicts), against a real Redis:
two instances stand for two gunicorn workers."""

from __future__ import annotations

import signal
import threading
import time

import pytest
import redis

from backend.security.signatures import ParsedScan
from backend.services.verification import Verdicts
from tests import servers

CODE = ParsedScan("1401052026010000001X", 1, "k1", "sig")
OTHER = ParsedScan("1401052026010000002X", 1, "k1", "sig")
VALID = {"verdict": "valid", "valid_until": None}


def eventually(check, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return False


@pytest.fixture
def workers(redis_url):
    client = redis.Redis.from_url(redis_url)
    pair = [Verdicts(client, seconds=600, entries=100) for _ in range(2)]
    for verdicts in pair:
        verdicts.get(CODE)  # starts listening
        assert eventually(lambda v=verdicts: v.keeping)
    yield pair
    client.close()


def test_a_change_in_one_worker_drops_the_verdict_in_the_other(workers):
    first, second = workers
    for verdicts in workers:
        verdicts.put(CODE, VALID, verdicts.generation)
        verdicts.put(OTHER, VALID, verdicts.generation)
    second.changed([CODE.license_no])
    assert second.get(CODE) is None  # at once where it changed
    assert eventually(lambda: first.get(CODE) is None)  # and in the other worker
    assert first.get(OTHER) == VALID and second.get(OTHER) == VALID  # others untouched


def test_a_verdict_read_while_a_change_was_announced_is_not_kept(workers):
    first, second = workers
    generation = first.generation  # before the database read
    second.changed([CODE.license_no])  # a change commits meanwhile
    assert eventually(lambda: first.generation != generation)
    first.put(CODE, VALID, generation)
    assert first.get(CODE) is None


def test_without_its_subscription_a_worker_keeps_nothing(redis_url):
    dead = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    verdicts = Verdicts(dead, seconds=600, entries=100)
    verdicts.get(CODE)
    verdicts.put(CODE, VALID, verdicts.generation)
    assert verdicts.get(CODE) is None


def test_without_redis_one_process_keeps_and_drops_its_own(redis_url):
    verdicts = Verdicts(None, seconds=600, entries=100)
    verdicts.put(CODE, VALID, verdicts.generation)
    assert verdicts.get(CODE) == VALID
    verdicts.changed([CODE.license_no])
    assert verdicts.get(CODE) is None


def test_a_redis_that_hangs_is_found_and_nothing_is_kept_until_it_answers(tmp_path):
    """A hung Redis closes no connection: the change channel is pinged, and a worker whose
    pings go unanswered keeps nothing (every scan reads the database) until Redis answers
    again, then keeps verdicts afresh."""
    server = servers.start_redis(tmp_path)
    client = redis.Redis.from_url(server.url, socket_timeout=2, socket_connect_timeout=2)
    verdicts = Verdicts(client, seconds=600, entries=100)
    try:
        verdicts.get(CODE)
        assert eventually(lambda: verdicts.keeping)
        verdicts.put(CODE, VALID, verdicts.generation)
        assert verdicts.get(CODE) == VALID
        server.process.send_signal(signal.SIGSTOP)  # hangs: every connection stays open
        assert eventually(lambda: not verdicts.keeping, seconds=6)
        assert verdicts.get(CODE) is None
        verdicts.put(CODE, VALID, verdicts.generation)
        assert verdicts.get(CODE) is None  # not kept while the channel is lost
        server.process.send_signal(signal.SIGCONT)
        assert eventually(lambda: verdicts.keeping, seconds=10)
        verdicts.put(CODE, VALID, verdicts.generation)
        assert verdicts.get(CODE) == VALID
    finally:
        server.process.send_signal(signal.SIGCONT)
        client.close()
        server.stop()


def test_at_most_the_configured_verdicts_are_kept_the_oldest_going_first():
    verdicts = Verdicts(None, seconds=600, entries=3)
    codes = [ParsedScan(f"14010520260100000{n:02d}X", 1, "k1", "sig") for n in range(5)]
    for code in codes[:3]:
        verdicts.put(code, VALID, verdicts.generation)
    verdicts.put(codes[0], VALID, verdicts.generation)  # kept again: now the newest
    verdicts.put(codes[3], VALID, verdicts.generation)
    assert [verdicts.get(c) is not None for c in codes] == [True, False, True, True, False]


def test_a_verdict_lapses_after_its_seconds(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    verdicts = Verdicts(None, seconds=600, entries=10)
    verdicts.put(CODE, VALID, verdicts.generation)
    now[0] += 599
    assert verdicts.get(CODE) == VALID
    now[0] += 1
    assert verdicts.get(CODE) is None
    verdicts.put(OTHER, VALID, verdicts.generation)  # and the lapsed one is let go
    assert CODE not in verdicts._held


def test_a_scan_is_answered_while_a_writer_holds_the_lock():
    """Every cached scan reads without the lock: 32 threads asking for one code never queue
    behind each other or behind a change being dropped."""
    verdicts = Verdicts(None, seconds=600, entries=10)
    verdicts.put(CODE, VALID, verdicts.generation)
    answered = []
    with verdicts._lock:
        reader = threading.Thread(target=lambda: answered.append(verdicts.get(CODE)))
        reader.start()
        reader.join(timeout=2)
    assert answered == [VALID]
