"""The shared limit taken in blocks (backend/rate_limits.py), against a real Redis: several
processes (one ``Tokens`` each) never grant more than the limit in a window, small limits are
exact, and a used-up window is refused without a round trip."""

from __future__ import annotations

import random
import uuid

import pytest
import redis
from limits import parse

from backend.rate_limits import BLOCK_MAX, Tokens


@pytest.fixture
def client(redis_url):
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def spend_all(client, processes: list[Tokens], limit: str, requests: int) -> list[bool]:
    """``requests`` requests of one client, each served by a process picked at random."""
    item, key = parse(limit), f"test-limit:{uuid.uuid4().hex}"
    rng = random.Random(7)
    return [rng.choice(processes).take(client, key, item) for _ in range(requests)]


@pytest.mark.parametrize("amount", [1, 20, 60, 63, 64, 130])
def test_a_small_limit_grants_exactly_its_amount(client, amount):
    """Below 128 a block is one token: exactly the limit gets through, over 3 processes."""
    granted = spend_all(client, [Tokens() for _ in range(3)], f"{amount} per minute",
                        amount * 2)
    assert granted == [True] * amount + [False] * amount


def test_a_large_limit_never_grants_more_and_strands_little(client):
    """Far from the limit 3 processes count mostly in themselves; over the whole window no
    more than the limit is granted, and the tokens left unspent in the processes are fewer
    than three blocks."""
    granted = spend_all(client, [Tokens() for _ in range(3)], "5000 per minute", 6000)
    assert 5000 - 3 * BLOCK_MAX <= granted.count(True) <= 5000
    assert granted[-500:] == [False] * 500  # once used up, refused


def test_far_from_the_limit_most_requests_make_no_round_trip(client):
    item, key, tokens = parse("1000000 per minute"), f"test-limit:{uuid.uuid4().hex}", Tokens()
    for _ in range(640):
        assert tokens.take(client, key, item)
    # the counter holds what was handed out: the first token and ten blocks of 64
    assert int(client.get(key)) == 1 + 640 // BLOCK_MAX * BLOCK_MAX


def test_a_used_up_window_is_refused_in_the_process(client):
    item, key, tokens = parse("2 per minute"), f"test-limit:{uuid.uuid4().hex}", Tokens()
    assert [tokens.take(client, key, item) for _ in range(3)] == [True, True, False]
    client.delete(key)  # were the process to ask Redis again, it would be let through
    assert tokens.take(client, key, item) is False


def test_the_window_ends_when_redis_ends_it(client):
    item, key, tokens = parse("1 per second"), f"test-limit:{uuid.uuid4().hex}", Tokens()
    assert [tokens.take(client, key, item) for _ in range(2)] == [True, False]
    client.delete(key)  # Redis ends the window, and the time Redis gave has passed:
    tokens.windows[key].ends = 0
    assert tokens.take(client, key, item) is True
