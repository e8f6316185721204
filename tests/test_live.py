"""The whole story over real HTTP under the real server, as `make run` starts it (tests/live.py),
on the embedded default and on MariaDB + Redis: what Flask's test client cannot see (bytes
sent by gunicorn, limits across worker processes, the served port in QR codes)."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import runpy
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
import requests
import yaml
import zxingcpp
from PIL import Image

from backend import clock
from backend.health import PROBES
from config.settings import SettingsError, load
from tests import live
from tests.live import PUBLIC_VERIFY_LIMIT, ROOT, LiveServer, sha256
from tests.media_files import phone_jpeg
from tests.test_applications import BASE, draft, fill, send_file, upload, upload_required
from tests.test_notice import notice
from tests.test_notifications import wait_until
from tests.test_seal import assert_sealed
from tests.test_workflow import STAFF, post, staff_get

QR = zxingcpp.BarcodeFormat.QRCode  # decode QR codes only: a license's print is not a 1-D code

RESTAURANT = {"floor_area": 450, "investment": 80, "sells_tobacco": True}
CLIENT_ADDRESSES = (f"127.0.0.{n}" for n in itertools.count(2))  # a fresh limit each
FORWARDED = (f"198.51.{n // 250}.{n % 250 + 1}" for n in itertools.count())  # phones' addresses
UNITS = {"approval_bureau": ("bureau1", "inspector1"), "fire": ("fire1", "inspector2"),
         "tobacco": ("tobacco1", "inspector3")}


def fetch_stored(server: LiveServer, client, url: str) -> bytes:
    """GET a signed file link over HTTP; its bytes must be exactly the stored file's, its
    length said up front (a phone's download shows progress), and a range of it resumable."""
    assert urlsplit(url).netloc == f"127.0.0.1:{server.port}", url
    resp = client.get(url)
    assert resp.status_code == 200, resp.data[:200]
    digest, stored = server.stored(url)
    assert len(resp.data) == len(stored) and sha256(resp.data) == digest, (
        f"{url}: {len(resp.data)} bytes fetched, {len(stored)} stored")
    assert resp.headers["Content-Length"] == str(len(stored))
    for asked, start in ((f"bytes=100-{len(stored) - 1}", 100), ("bytes=-10", len(stored) - 10)):
        part = client.get(url, headers={"Range": asked})
        assert part.status_code == 206, (asked, part.status_code)
        assert part.data == stored[start:], asked
        assert part.headers["Content-Range"] == f"bytes {start}-{len(stored) - 1}/{len(stored)}"
    return resp.data


def file_links(detail: dict) -> list[str]:
    return [link for m in detail["materials"] for f in m["files"]
            for link in (f["url"], f["thumbnail_url"]) if link]


def submitted_over_http(server: LiveServer, applicant_name: str, **fields) -> dict:
    """An application sent from the mini-program over the real HTTP API, as in the story
    below: a restaurant selling tobacco (items of three units), its deferrable materials
    left for the visit (容缺); ``fields`` change the form's sample values."""
    http = server.client()
    applicant = server.login_applicant(applicant_name)
    detail = fill(http, applicant, draft(http, applicant, "restaurant", **RESTAURANT), **fields)
    upload_required(http, applicant, detail, skip_deferrable=True)
    submitted = http.post(f"{BASE}/{detail['id']}/submit", headers=applicant)
    assert submitted.status_code == 200, submitted.json
    return submitted.json


def test_the_whole_story_over_http(live_server: LiveServer):
    whole_story(live_server)


def whole_story(server: LiveServer, midway: Callable[[], None] = lambda: None) -> None:
    """The story of the defects issue over real HTTP; ``midway`` runs once the application
    is submitted (tests/test_cluster.py kills a web host there)."""
    http = server.client()
    applicant = server.login_applicant("owner")
    names = ["window1", "coordinator1", "admin1", *(n for pair in UNITS.values() for n in pair)]
    with ThreadPoolExecutor(max_workers=4) as pool:  # argon2 at production cost: in parallel
        staff = dict(zip(names, pool.map(server.login_staff, names), strict=True))
    window, coordinator = staff["window1"][0], staff["coordinator1"][0]

    # 办事指南 (notice) → apply → fill → upload → submit
    told = notice(http, "restaurant", **RESTAURANT)
    assert {i["approving_unit"]["code"] for i in told["items"]} == set(UNITS)
    detail = fill(http, applicant, draft(http, applicant, "restaurant", **RESTAURANT))
    upload_required(http, applicant, detail, skip_deferrable=True)
    photo = phone_jpeg(seed=3)  # a full phone photo: far more than 4 KB once re-encoded
    assert upload(http, applicant, detail["id"], "premises_proof", photo).status_code == 201
    detail = http.get(f"{BASE}/{detail['id']}", headers=applicant).json
    links = file_links(detail)
    fetched = [fetch_stored(server, http, link) for link in links]
    assert max(len(b) for b in fetched) > 4096
    assert all(b.startswith(b"\xff\xd8") for b in fetched)
    submitted = http.post(f"{BASE}/{detail['id']}/submit", headers=applicant).json
    assert submitted["status"] == "submitted" and submitted["deferred_materials"]
    app_id = submitted["id"]
    midway()

    # 一窗受理 → 并联审批: every unit approves its own lanes, none sees another's
    accepted = post(http, window, f"/applications/{app_id}/accept",
                    {"version": submitted["version"]})
    assert accepted["status"] == "in_review"
    assert {i["status"] for i in accepted["items"]} == {"under_review"}
    lanes = {i["code"]: i["approving_unit"]["code"] for i in accepted["items"]}
    for unit, (reviewer, _) in UNITS.items():
        tasks = [t for t in staff_get(http, staff[reviewer][0], "/reviews")["reviews"]
                 if t["application_id"] == app_id]
        assert {t["item_code"] for t in tasks} == {c for c, u in lanes.items() if u == unit}
        for task in tasks:
            post(http, staff[reviewer][0], f"/reviews/{task['id']}/approve",
                 {"version": task["version"], "opinion": "符合条件，准予许可"})
    reviewed = http.get(f"{BASE}/{app_id}", headers=applicant).json
    assert {i["status"] for i in reviewed["items"]} == {"approved"}
    assert reviewed["status"] == "in_review"  # the joint inspection is still to come

    # 一同核查: one visit by one inspector of each unit, all pass
    inspection = reviewed["inspection"]
    inspection = post(http, coordinator, f"/inspections/{inspection['id']}/schedule", {
        "version": staff_get(http, coordinator, f"/inspections/{inspection['id']}")["version"],
        "date": (clock.today() + timedelta(days=3)).isoformat(), "window": "09:00-11:00",
        "address": "太原市小店区平阳路 1 号",
        "team": [staff[inspector][1]["id"] for _, inspector in UNITS.values()]})
    assert inspection["status"] == "scheduled"
    for unit, (_, inspector) in UNITS.items():
        headers = staff[inspector][0]
        shot = send_file(http, f"{STAFF}/inspections/{inspection['id']}/photos", headers,
                         phone_jpeg(seed=20))
        assert shot.status_code == 201, shot.json
        fetch_stored(server, http, shot.json["url"])
        for code in inspection["item_codes"]:
            if lanes[code] == unit:
                post(http, headers, f"/inspections/{inspection['id']}/results", {
                    "item_code": code, "result": "pass", "photos": [shot.json["sha256"]],
                    "confirmed_materials": (submitted["deferred_materials"]
                                            if unit == "approval_bureau" else [])})
    concluded = post(http, coordinator, f"/inspections/{inspection['id']}/conclude", {
        "version": staff_get(http, coordinator, f"/inspections/{inspection['id']}")["version"]})
    assert concluded["status"] == "passed"
    assert http.get(f"{BASE}/{app_id}", headers=applicant).json["status"] == "approved"

    # 一证准营: the license, its files fetched whole, its QR decoded from the PNG over HTTP
    issued = post(http, window, f"/applications/{app_id}/license", status=201)
    mine = http.get("/api/mp/v1/licenses", headers=applicant).json["licenses"]
    assert [lic["license_no"] for lic in mine] == [issued["license_no"]]
    png = fetch_stored(server, http, mine[0]["image_url"])
    # the PDF as served, whole: sealed by the issuing authority, every byte covered
    assert_sealed(fetch_stored(server, http, mine[0]["pdf_url"]),
                  authority=issued["issuing_authority"])
    # 电子证照: the province's library holds the license and every permit, with that file;
    # the holder downloads a permit, stating why (用证事由), and gets that file too
    elicense_ids = [issued["elicense"]["identifier"],
                    *(i["elicense"]["identifier"] for i in issued["items"])]
    face, _ = server.stored(mine[0]["pdf_url"])
    held = library_holding(server, elicense_ids)
    assert {held[i]["file"]["sha256"] for i in elicense_ids} == {face}
    got = http.post(f"/api/mp/v1/elicenses/{elicense_ids[1]}/download", headers=applicant,
                    json={"purpose": "bank"})
    assert got.status_code == 201, got.json
    assert sha256(fetch_stored(server, http, got.json["url"])) == face
    decoded = [b.text for b in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)), formats=QR)]
    assert decoded == [mine[0]["verify_url"]]
    scanned = urlsplit(decoded[0])
    assert (scanned.hostname, scanned.port) == ("127.0.0.1", server.port)  # the served port
    page = http.get(decoded[0])
    assert page.status_code == 200 and "有效" in page.data.decode()
    assert public_verdict(http, decoded[0]) == ("valid", "有效")
    inspector = staff["inspector1"][0]
    scan = http.post("/api/mp/v1/licenses/verify", headers=inspector, json={"scan": decoded[0]})
    assert scan.json["verdict"] == "valid" and set(lanes) == {i["code"] for i in scan.json["items"]}

    # the approving unit revokes an essential item: the next scan says so, whichever web
    # process answers (each kept the valid verdict; the change reaches them by pub/sub)
    def fresh() -> list:  # new connections (each its own address) spread over the workers
        return [server.client(source_address=next(CLIENT_ADDRESSES)) for _ in range(12)]


    assert {public_verdict(client, decoded[0]) for client in fresh()} == {("valid", "有效")}
    bureau = staff["bureau1"][0]
    current = staff_get(http, bureau, f"/licenses/{issued['id']}")
    post(http, bureau, f"/licenses/{issued['id']}/items/food_business/revoke",
         {"version": current["lock_version"], "reason": "销售过期食品，情节严重"})
    deadline = time.monotonic() + 1  # "within milliseconds": a second is generous
    while public_verdict(fresh()[0], decoded[0])[0] != "revoked" and \
            time.monotonic() < deadline:
        time.sleep(0.01)
    assert {public_verdict(client, decoded[0]) for client in fresh()} == {("revoked", "已吊销")}
    assert public_verdict(http, decoded[0]) == ("revoked", "已吊销")
    assert "已吊销" in http.get(decoded[0]).data.decode()
    rescan = http.post("/api/mp/v1/licenses/verify", headers=inspector,
                       json={"scan": decoded[0]}).json
    assert rescan["verdict"] == "revoked"
    # … and the library, every e-license's status change after its issue (05 注销/撤销/吊销)
    held = library_holding(server, elicense_ids, changes=2)
    assert {i: [c["operation_code"] for c in held[i]["changes"]] for i in elicense_ids} == {
        i: ["01", "05"] for i in elicense_ids}
    downloads = staff_get(http, staff["admin1"][0], f"/licenses/{issued['id']}/downloads")
    assert [(d["identifier"], d["purpose"], d["client_address"])
            for d in downloads["downloads"]] == [(elicense_ids[1], "bank", "127.0.0.1")]


def library_holding(server: LiveServer, identifiers: list[str], changes: int = 1,
                    timeout: float = 30.0) -> dict:
    """What the e-license library emulator holds, once it holds each of ``identifiers``
    with ``changes`` changes (the worker pushes after the commit)."""
    deadline = time.monotonic() + timeout
    while True:
        held = requests.get(f"{server.library_url}_emulator/log", timeout=5).json()["held"]
        if all(len(held.get(i, {}).get("changes", ())) >= changes for i in identifiers):
            return held
        assert time.monotonic() < deadline, f"the library holds {sorted(held)}"
        time.sleep(0.1)


def test_a_bad_rating_from_the_mini_program_reaches_the_unit_over_http(live_server: LiveServer):
    """好差评 end to end over real HTTP: the window refuses to accept an application, its
    applicant rates it 非常不满意 once from the mini-program, and the window's unit (bureau1)
    finds the rectification task and the message telling it so; the applicant is told too."""
    server, http = live_server, live_server.client()
    name = f"rater-{uuid.uuid4().hex[:8]}"
    submitted = submitted_over_http(server, name)
    applicant, (window, _) = server.login_applicant(name), server.login_staff("window1")
    post(http, window, f"/applications/{submitted['id']}/reject",
         {"version": submitted["version"], "reason": "经营场所不在本县受理范围"})

    levels = http.get("/api/mp/v1/ratings/options").json["levels"]
    assert [lv["code"] for lv in levels if lv["opens_rectification"]] == [
        "dissatisfied", "very_dissatisfied"]
    open_cases = http.get("/api/mp/v1/ratings?rateable_only=true", headers=applicant).json
    assert [c["application_id"] for c in open_cases["cases"]] == [submitted["id"]]
    url = f"/api/mp/v1/applications/{submitted['id']}/rating"
    body = {"level": "very_dissatisfied", "tags": ["many_trips"], "comment": "跑了三趟"}
    rated = http.post(url, headers=applicant, json=body)
    assert rated.status_code == 201, rated.json
    assert rated.json["rating"]["channel"] == "miniprogram"
    again = http.post(url, headers=applicant, json=body)
    assert (again.status_code, again.json["code"]) == (409, "RATING_ALREADY_GIVEN")

    bureau, _ = server.login_staff("bureau1")
    tasks = [t for t in staff_get(http, bureau, "/rectifications")["tasks"]
             if t["application_id"] == submitted["id"]]
    assert [(t["status"], t["rating"]["comment"]) for t in tasks] == [("open", "跑了三趟")]
    told = staff_get(http, bureau, "/messages")["messages"]
    assert any(m["event"] == "rectification.opened"
               and m["title"] == f"差评整改：饭店 {submitted['submission_number']}" for m in told)
    inbox = http.get("/api/mp/v1/messages", headers=applicant).json["messages"]
    assert inbox[0]["title"] == "您的评价已转交核实"


def public_verdict(http, url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    body = http.get(f"/api/public/v1/licenses/{parts.path.rsplit('/', 1)[1]}?{parts.query}").json
    return body["verdict"], body["verdict_label"]


VERIFY_PATHS = ("/api/public/v1/licenses/1401052026010000001X?v=1",
                "/v/1401052026010000001X?v=1")


def test_public_verify_limit_holds_across_worker_processes(live_server: LiveServer):
    """2.5× the limit from one fresh client address, on new connections in parallel (so they
    spread over every web process), alternating the page and its JSON twin (one limit for
    both): exactly the limit gets through, the rest are 429 — JSON or a page, as asked."""
    assert len(live_server.web_workers()) == (2 if live_server.env["REDIS_URL"] else 1)
    address, count = next(CLIENT_ADDRESSES), PUBLIC_VERIFY_LIMIT * 5 // 2
    start = threading.Barrier(count)

    def one(i: int):
        client = live_server.client(source_address=address)  # a connection of its own
        start.wait()
        return client.get(VERIFY_PATHS[i % 2])

    with ThreadPoolExecutor(max_workers=count) as pool:  # all at once, as a burst
        responses = list(pool.map(one, range(count)))
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == PUBLIC_VERIFY_LIMIT, statuses
    assert statuses.count(429) == len(statuses) - PUBLIC_VERIFY_LIMIT
    for i, refused in enumerate(responses):
        if refused.status_code != 429:
            continue
        assert 0 < int(refused.headers["Retry-After"]) <= 60
        if VERIFY_PATHS[i % 2].startswith("/api/"):
            assert refused.json["code"] == "RATE_LIMITED" and refused.json["message"]
        else:
            assert refused.headers["Content-Type"].startswith("text/html")
            assert "请稍后再试" in refused.data.decode()


def test_clients_behind_the_proxy_are_counted_apart(live_server: LiveServer):
    """Through the proxy (a trusted loopback peer, one hop) each client named by the entry the
    proxy appended to X-Forwarded-For has a limit of its own; entries the client wrote itself,
    and the header from a peer that is not a trusted proxy, are not believed."""
    path = "/api/public/v1/licenses/1401052026010000001X?v=1"
    proxy, phone, neighbour = live_server.client(), next(FORWARDED), next(FORWARDED)
    spoofing = [proxy.get(path, headers={"X-Forwarded-For": f"{next(FORWARDED)}, {phone}"})
                for _ in range(PUBLIC_VERIFY_LIMIT + 5)]  # the phone varies its own entry
    assert [r.status_code for r in spoofing] == [200] * PUBLIC_VERIFY_LIMIT + [429] * 5
    assert proxy.get(path, headers={"X-Forwarded-For": neighbour}).status_code == 200

    stranger = live_server.client(source_address=next(CLIENT_ADDRESSES))
    ignored = [stranger.get(path, headers={"X-Forwarded-For": next(FORWARDED)}).status_code
               for _ in range(PUBLIC_VERIFY_LIMIT + 5)]
    assert ignored == [200] * PUBLIC_VERIFY_LIMIT + [429] * 5


def test_a_rush_of_first_logins_through_the_proxy_is_not_refused(live_server: LiveServer):
    """40 applicants at once behind the proxy, each their own X-Forwarded-For: all sign in."""
    proxy, phones = live_server.client(), [next(FORWARDED) for _ in range(40)]
    start = threading.Barrier(40)

    def log_in(n: int) -> int:
        start.wait()
        return proxy.post("/api/mp/v1/auth/login", json={"code": f"test-rush{n}.{n}"},
                          headers={"X-Forwarded-For": phones[n]}).status_code

    with ThreadPoolExecutor(max_workers=40) as pool:
        assert list(pool.map(log_in, range(40))) == [200] * 40


def test_verify_base_follows_the_served_address_unless_set():
    assert load(environ={"PORT": "9000"}).LICENSE_VERIFY_BASE_URL == "http://127.0.0.1:9000"
    assert load(environ={"PORT": "9000"}).PUBLIC_BASE_URL == "http://127.0.0.1:9000"
    served = load(environ={"HOST": "0.0.0.0", "PORT": "9000"})  # noqa: S104
    assert served.LICENSE_VERIFY_BASE_URL == "http://127.0.0.1:9000"
    explicit = load(environ={"PORT": "9000", "LICENSE_VERIFY_BASE_URL": "https://zw.example.cn",
                             "PUBLIC_BASE_URL": "https://api.example.cn"})
    assert explicit.LICENSE_VERIFY_BASE_URL == "https://zw.example.cn"
    assert explicit.PUBLIC_BASE_URL == "https://api.example.cn"


def gunicorn_conf(monkeypatch, **env) -> dict:
    for name in ("REDIS_URL", "WEB_CONCURRENCY", "WEB_THREADS", "WEB_PIN_CPUS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(Path(ROOT) / "config" / "gunicorn.conf.py"))


def test_embedded_default_is_one_web_process(monkeypatch):
    """In-memory limits and the in-process worker are per process: one process, more threads."""
    embedded = gunicorn_conf(monkeypatch)
    assert embedded["workers"] == 1 and not embedded["reuse_port"]
    shared = gunicorn_conf(monkeypatch, REDIS_URL="redis://127.0.0.1:1/0")
    assert shared["workers"] == 2 and shared["reuse_port"]  # a socket per worker
    with pytest.raises(SystemExit, match="REDIS_URL"):
        gunicorn_conf(monkeypatch, WEB_CONCURRENCY="2")


def test_a_new_web_process_takes_the_cpu_fewest_have(monkeypatch):
    """Pinned web processes (WEB_PIN_CPUS, two or more processes) spread evenly, and a
    replacement takes the CPU of the process it replaces."""
    conf = gunicorn_conf(monkeypatch, REDIS_URL="redis://127.0.0.1:1/0")
    cpus = conf["pinned_cpus"]
    assert cpus == sorted(os.sched_getaffinity(0))
    server = SimpleNamespace(WORKERS={})
    for pid in range(2 * len(cpus)):
        conf["pre_fork"](server, worker := SimpleNamespace())
        server.WORKERS[pid] = worker
    assert Counter(w.cpu for w in server.WORKERS.values()) == dict.fromkeys(cpus, 2)
    gone = server.WORKERS.pop(1)
    conf["pre_fork"](server, replacement := SimpleNamespace())
    assert replacement.cpu == gone.cpu
    assert gunicorn_conf(monkeypatch, REDIS_URL="redis://127.0.0.1:1/0",
                         WEB_PIN_CPUS="false")["pinned_cpus"] == []
    assert gunicorn_conf(monkeypatch)["pinned_cpus"] == []  # one process: the scheduler's


def test_gunicorn_and_the_app_trust_one_list_of_proxies(monkeypatch):
    conf = gunicorn_conf(monkeypatch, FORWARDED_ALLOW_IPS="10.0.0.0/8,192.168.1.7")
    assert conf["forwarded_allow_ips"] == "10.0.0.0/8,192.168.1.7"
    for bad in ({"FORWARDED_ALLOW_IPS": "10.0.0.1/8"}, {"FORWARDED_ALLOW_IPS": "proxy"},
                {"PROXY_FIX_X_FOR": "-1"}):
        with pytest.raises(SettingsError):
            load(environ=bad)


def test_a_notice_asked_again_is_the_same_however_the_body_is_sent(live_server: LiveServer):
    """Over the real server a tailored notice is kept per body as sent (read before it is
    validated): the same bytes again, in one piece or in chunks (no Content-Length), get the
    same notice and ETag, and 304 with it; a refused body is refused again."""
    url = f"{live_server.base_url}/api/mp/v1/industries/restaurant/notice"
    questions = live_server.client().get("/api/mp/v1/industries/restaurant").json["questions"]
    answers = {q["code"]: False if q["type"] == "bool" else 50 if q["type"] == "number"
               else q["options"][0]["value"] for q in questions}
    body = json.dumps({"answers": answers}).encode()
    json_type = {"Content-Type": "application/json"}
    first = requests.post(url, data=body, headers=json_type, timeout=30)
    assert first.status_code == 200 and first.json()["items"]
    for data in (body, iter([body[:40], body[40:]])):
        again = requests.post(url, data=data, headers=json_type, timeout=30)
        assert again.content == first.content and again.headers["ETag"] == first.headers["ETag"]
    unchanged = requests.post(url, data=body, timeout=30,
                              headers=json_type | {"If-None-Match": first.headers["ETag"]})
    assert unchanged.status_code == 304 and unchanged.content == b""
    bad = json.dumps({"answers": answers | {"floor_area": -5}}).encode()
    for _ in range(2):
        refused = requests.post(url, data=bad, headers=json_type, timeout=30)
        assert refused.status_code == 422 and refused.json()["code"] == "ANSWER_INVALID"


def test_catalog_answers_carry_an_etag_that_a_new_version_changes(live_server: LiveServer,
                                                                   tmp_path: Path):
    """If-None-Match with the current ETag is 304 with no body, on every web process; a
    version loaded by another process (`flask catalog load`) changes the ETag and the content
    within CATALOG_CHECK_SECONDS. Runs last: the new version only renames the catalog."""
    http = live_server.client()
    paths = ["/api/mp/v1/industries", "/api/mp/v1/industries/restaurant"]
    before = {path: http.get(path) for path in paths}
    for path, first in before.items():
        assert first.status_code == 200 and first.headers["ETag"].startswith('"'), path
        assert first.headers["Cache-Control"] == "public, no-cache"
        for _ in range(4):  # new connections: both web processes answer
            again = live_server.client().get(path, headers={"If-None-Match":
                                                            first.headers["ETag"]})
            assert again.status_code == 304 and again.data == b"", path
            assert again.headers["ETag"] == first.headers["ETag"]
    number = before[paths[0]].json["catalog_version"]

    data = yaml.safe_load((ROOT / "config" / "catalog" / "catalog.yaml").read_text("utf-8"))
    data["title"] += "（第二版）"
    renamed = tmp_path / "catalog.yaml"
    renamed.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    subprocess.run([sys.executable, "-m", "flask", "catalog", "load", "--path", str(renamed)],
                   cwd=ROOT, env=live_server.env, check=True, capture_output=True, timeout=60)

    time.sleep(float(live_server.env.get("CATALOG_CHECK_SECONDS") or 1) + 0.2)
    for path, first in before.items():
        for _ in range(4):
            resp = live_server.client().get(path, headers={"If-None-Match":
                                                           first.headers["ETag"]})
            assert resp.status_code == 200, path
            assert resp.headers["ETag"] != first.headers["ETag"]
            assert resp.json["catalog_version"] == number + 1
    old = http.get(f"{paths[1]}?version={number}")
    assert old.json["catalog_version"] == number
    assert old.headers["Cache-Control"] == "public, max-age=31536000, immutable"


def test_each_request_leaves_one_access_line_with_its_id(live_server: LiveServer):
    """As gunicorn writes it to stdout: one JSON line per request, in the shape of every other
    log line, carrying the id the client sent (or the one it was given) and the outcome. The
    probes, asked before them, leave none (backend.health.PROBES)."""
    http = live_server.client()
    sent = f"line-{uuid.uuid4().hex[:12]}"
    for probe in sorted(PROBES):
        assert "X-Request-ID" not in http.get(probe, headers={"X-Request-ID": sent}).headers
    industries = "/api/mp/v1/industries"
    assert http.get(industries, headers={"X-Request-ID": sent}).headers["X-Request-ID"] == sent
    missing_path = f"/no-such-page/{uuid.uuid4().hex[:8]}"
    missing = http.get(missing_path, headers={"X-Request-ID": "a b"})
    given = missing.headers["X-Request-ID"]  # not well formed: replaced
    assert missing.status_code == 404 and len(given) == 32 and missing.json["details"][
        "request_id"] == given

    def lines() -> list[dict]:
        found = [json.loads(line) for line in live_server.logs().splitlines()
                 if sent in line or given in line]
        return found if len(found) >= 2 else []

    catalog, not_found = sorted(wait_until(lines, what="the access lines"),
                                key=lambda line: line["request_id"] != sent)
    assert len(lines()) == 2  # one line each
    assert not [line for line in live_server.logs().splitlines() if '"yiye.access"' in line
                and any(f'"path": "{probe}"' in line for probe in PROBES)]
    for line, (request_id, path, status) in ((catalog, (sent, industries, 200)),
                                             (not_found, (given, missing_path, 404))):
        assert {k: line[k] for k in ("level", "logger", "message", "request_id", "method",
                                     "path", "status")} == {
            "level": "INFO", "logger": "yiye.access", "message": "request",
            "request_id": request_id, "method": "GET", "path": path, "status": status}
        assert isinstance(line["duration_ms"], float | int) and 0 <= line["duration_ms"] < 5000
        assert datetime.strptime(line["time"], "%Y-%m-%d %H:%M:%S,%f")


def listening_sockets(port: int) -> int:
    """TCP sockets listening on ``port`` on this host (state 0A of /proc/net/tcp and tcp6)."""
    rows = (line.split() for table in ("/proc/net/tcp", "/proc/net/tcp6")
            for line in Path(table).read_text().splitlines()[1:])
    return sum(1 for row in rows if row[3] == "0A" and int(row[1].rsplit(":", 1)[1], 16) == port)


def test_each_web_process_listens_on_a_socket_of_its_own_and_a_second_server_is_refused(
        live_server: LiveServer, tmp_path: Path):
    """Two web processes listen on two sockets (SO_REUSEPORT), so the kernel spreads the
    connections between them, not whichever woke first. A second server started on the same
    port stops at once, touching nothing: it neither takes a share of the connections nor
    empties the running server's metrics (their directory is named by the port)."""
    workers = 1 if live_server.mode == "embedded" else 2
    assert listening_sockets(live_server.port) == workers
    metrics_dir = Path(live_server.env["METRICS_DIR"]) / str(live_server.port)
    assert live_server.client().get("/api/mp/v1/industries").status_code == 200  # counted
    counts = wait_until(lambda: sorted(metrics_dir.iterdir()), what="the metrics files")
    env = live_server.env | {"GUNICORN_CMD_ARGS": f"--control-socket {tmp_path / 'ctl'}"}
    second = subprocess.run(live.procfile()["web"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=30)
    assert second.returncode != 0 and "is in use" in second.stdout + second.stderr
    assert listening_sockets(live_server.port) == workers
    assert set(counts) <= set(metrics_dir.iterdir())
    assert live_server.client().get("/healthz").status_code == 200


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def cpus_of_threads(pid: int) -> set[frozenset[int]]:
    return {frozenset(os.sched_getaffinity(int(task.name)))
            for task in Path(f"/proc/{pid}/task").iterdir()}


def test_each_web_process_runs_on_a_cpu_of_its_own(live_server: LiveServer):
    """With two web processes every thread of each runs on one CPU, a different one for
    each when there are two; their image processes run on any CPU. One web process (the
    embedded default) is left to the scheduler."""
    every = frozenset(os.sched_getaffinity(0))
    workers = children(live_server.processes["web"].pid)
    assert len(workers) == (1 if live_server.mode == "embedded" else 2)
    for worker in workers:
        image_processes = [p for child in children(worker) for p in [child, *children(child)]]
        assert image_processes and all(os.sched_getaffinity(p) == every
                                       for p in image_processes)
    if live_server.mode == "embedded":
        assert cpus_of_threads(workers[0]) == {every}
        return
    pinned = [cpus_of_threads(worker) for worker in workers]
    assert all(len(cpus) == 1 and len(next(iter(cpus))) == 1 for cpus in pinned)
    if len(every) >= 2:
        assert pinned[0] != pinned[1]


@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
def test_a_body_that_is_not_json_is_refused_however_it_is_sent(live_server: LiveServer,
                                                               chunked: bool):
    """A JSON endpoint refuses a body not declared JSON, also one sent in chunks (no
    Content-Length): it is never parsed as JSON behind the client's back."""
    body = b'{"code": "x"}'
    resp = requests.post(f"{live_server.base_url}/api/mp/v1/auth/login",
                         data=iter([body]) if chunked else body,
                         headers={"Content-Type": "text/plain"}, timeout=30)
    assert resp.status_code == 415, resp.text
    assert resp.json()["code"] == "REQUEST_UNSUPPORTED_MEDIA_TYPE"
    assert resp.json()["details"]["content_type"] == "text/plain"
