"""The service on two web hosts behind HAProxy, two workers, files in SeaweedFS (S3), MariaDB
and Redis (tests/cluster.py, `make test-cluster`): what a province gets from more than one
machine — any host serves any file, and the story goes on when a web host or a worker dies.

Marked ``cluster``: `make test` leaves it out, `make test-cluster` runs only it.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import create_engine, text

from tests import live
from tests.cluster import WEB_HOSTS, Cluster, environment
from tests.media_files import phone_jpeg
from tests.test_applications import draft, upload
from tests.test_live import submitted_over_http, whole_story
from tests.test_workflow import post
from wechat_emulator.app import _wechat_id

pytestmark = pytest.mark.cluster
LEASE_SECONDS = 4.0  # a claimed delivery's lease in this cluster: a dead worker's is short


@pytest.fixture(scope="module")
def cluster(workdir: Path, mariadb_url: str, redis_url: str, seaweedfs: str) -> Iterator[Cluster]:
    """One cluster for the module, on a database and Redis db of its own and the bucket's
    ``cluster/`` prefix; one gunicorn worker process and one image process per web host (the
    machine has two cores), workers polling every second."""
    root = workdir / "cluster"
    env = environment(root, database_url=live.fresh_database(mariadb_url, "yiye_cluster"),
                      redis_url=redis_url.rsplit("/", 1)[0] + "/2", s3_endpoint=seaweedfs,
                      WEB_CONCURRENCY="1", WEB_THREADS="8", IMAGE_PROCESSES="1",
                      WORKER_POLL_SECONDS="1", NOTIFY_LEASE_SECONDS=str(LEASE_SECONDS),
                      WECHAT_TIMEOUT_SECONDS="3")
    server = Cluster("cluster", env, root)
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def whole(cluster: Cluster) -> Iterator[Cluster]:
    """The cluster, whole again after the test (a killed process started anew)."""
    yield cluster
    for name in sorted(cluster.killed):
        cluster.launch(name)
    cluster.wait_ready()


def test_a_file_uploaded_through_one_host_is_fetched_through_the_other(whole: Cluster):
    one, other = whole.host("web1"), whole.host("web2")
    applicant = whole.login_applicant("two-hosts")
    detail = draft(one, applicant, "restaurant")
    sent = upload(one, applicant, detail["id"], "premises_proof", phone_jpeg(seed=7))
    assert sent.status_code == 201, sent.json
    link = urlsplit(sent.json["url"])
    digest, stored = whole.stored(sent.json["url"])
    assert not any(Path(whole.env["MEDIA_ROOT"]).rglob(digest))  # in the bucket, not on disk

    fetched = other.get(link.path)
    assert fetched.status_code == 200 and fetched.data == stored
    assert fetched.headers["Content-Length"] == str(len(stored))
    assert fetched.headers["ETag"] == f'"{digest}"'
    part = other.get(link.path, headers={"Range": "bytes=-100"})
    assert (part.status_code, part.data) == (206, stored[-100:])
    # and through the balancer, from whichever host answers
    answers = [whole.client().get(link.path) for _ in range(4)]
    assert {a.data for a in answers} == {stored}
    assert {a.headers["X-Served-By"] for a in answers} == set(WEB_HOSTS)


def test_the_story_passes_through_the_balancer_with_a_web_host_killed_midway(whole: Cluster):
    """Both hosts serve the story's first half (round robin); web1 is killed (SIGKILL, no
    goodbye) once the application is submitted, and the story completes on web2."""
    before_kill = []

    def kill_web1() -> None:
        before_kill.append(len(whole.seen))
        served = whole.served_by()
        assert set(served) == set(WEB_HOSTS), served
        assert min(served.values()) >= 5  # not one stray request: both carried the story
        whole.kill("web1")

    whole_story(whole, midway=kill_web1)

    assert before_kill, "the story never reached its midway"
    after = whole.served_by(since=before_kill[0])
    assert set(after) == {"web2"} and after["web2"] > 20, after
    assert all(r.status_code < 500 for r in whole.seen[before_kill[0]:])


def test_a_worker_killed_mid_delivery_loses_nothing_and_sends_nothing_twice(whole: Cluster):
    """worker1 is paused, so worker2 claims the message to the first applicant; WeChat holds
    its answer back and worker2 is killed (SIGKILL) while waiting for it — WeChat delivers
    it anyway. A second message is queued while no worker runs. worker1 resumes: the second
    goes out once, and the first, whose claim has expired without a record, is marked
    uncertain instead of sent again (the WeChat emulator's log counts what arrived)."""
    http = whole.client()
    emulator = whole.env["WECHAT_API_BASE"]
    window, _ = whole.login_staff("window1")
    names = [f"kill-{n}-{uuid.uuid4().hex[:6]}" for n in ("a", "b")]
    openids = [_wechat_id(whole.env.get("WECHAT_APPID") or "wx-dev-appid", n) for n in names]
    applications = []
    for name in names:
        applications.append(submitted_over_http(whole, name))
        subscribed = http.post("/api/mp/v1/subscriptions", headers=whole.login_applicant(name),
                               json={"results": {"dev-progress-0001": "accept"}})
        assert subscribed.status_code == 200, subscribed.json

    os.killpg(whole.processes["worker1"].pid, signal.SIGSTOP)
    try:
        armed = requests.post(f"{emulator}_emulator/faults", timeout=5, json={
            "endpoint": "subscribe_send", "touser": openids[0], "delay_seconds": 2.5})
        assert armed.status_code in {200, 201}, armed.text
        post(http, window, f"/applications/{applications[0]['id']}/accept",
             {"version": applications[0]["version"]})
        wait_until(lambda: arrived(emulator, openids[0]), 20, "worker2's send at WeChat")
        whole.kill("worker2")  # while WeChat still holds the answer back
        post(http, window, f"/applications/{applications[1]['id']}/accept",
             {"version": applications[1]["version"]})
        wait_until(lambda: delivered(emulator, openids[0]) == 1, 10, "WeChat to deliver")
    finally:
        os.killpg(whole.processes["worker1"].pid, signal.SIGCONT)

    wait_until(lambda: delivered(emulator, openids[1]) == 1, 20, "worker1 to send the second")
    engine = create_engine(whole.env["DATABASE_URL"])
    try:
        wait_until(lambda: statuses(engine, applications) == ["uncertain", "sent"],
                   LEASE_SECONDS + 20, "the expired claim to be settled")
        time.sleep(1.5)  # more rounds of worker1: still nothing sent again
        assert statuses(engine, applications) == ["uncertain", "sent"]
    finally:
        engine.dispose()
    assert [delivered(emulator, o) for o in openids] == [1, 1]


def arrived(emulator: str, openid: str) -> bool:
    log = requests.get(f"{emulator}_emulator/log", timeout=5).json()
    return any(r["endpoint"] == "subscribe_send" and r["touser"] == openid
               for r in log["received"])


def delivered(emulator: str, openid: str) -> int:
    log = requests.get(f"{emulator}_emulator/log", timeout=5).json()
    return sum(m["touser"] == openid for m in log["messages"])


def statuses(engine, applications: list[dict]) -> list[str]:
    """The outbox status of each application's acceptance message to its applicant."""
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT aggregate, status FROM outbox_messages WHERE event = 'application.accepted'"
            " AND channel = 'wechat'")).all()
    by_aggregate = dict(rows)
    return [by_aggregate.get(f"application:{a['id']}", "missing") for a in applications]


def wait_until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"waited {timeout}s for {what}"
        time.sleep(0.1)
