"""`make bench-rush` (`python -m bench.rush`): the morning rush of issue 20, production-shaped.

MariaDB, Redis, the separate worker (`flask worker`), gunicorn with config/gunicorn.conf.py
behind a proxy: ``PROXY_FIX_X_FOR=1``, and every phone reaches it from the loopback with its
own X-Forwarded-For. Rate limits are the defaults. APPLICANTS phones at once each log in,
create a 饭店 application, fill the form, upload a 12 MP photo (~3.4 MB, distinct bytes) for
each required material and submit. A phone retries as on weak 4G: on a timeout, a dropped
connection, a 5xx or a 429 it waits (Retry-After, else 1, 2, 4 … s) and sends again, with
the same Idempotency-Key for create and submit; one upload in DOUBLE_TAP_EVERY is
double-tapped (sent twice at once). Meanwhile an inspector scans a license every 200 ms.

Printed (and written to docs/bench-rush.txt): per step, p50/p95/max as the phone sees it (from
the first attempt to the answer it keeps, retries included) against the goals of issue 20;
every answer that was not the expected one, by route; peak memory of each process; the load
average; and the checks that nothing was lost or doubled.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import secrets
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import requests
from sqlalchemy import create_engine, func, select

from backend.app import create_app
from backend.extensions import db
from backend.models import Application, ApplicationEvent, MaterialFile
from backend.security import signatures
from backend.services import staff as staff_service
from bench import seed, uploads
from bench.__main__ import Gunicorn, machine, prepare_database, services, versions
from config import settings as settings_module
from config.settings import PROJECT_ROOT
from media.bench import phone_jpeg
from tests.test_applications import VALID_ENTITY, fields_of, sample_value

APPLICANTS = 40
CLIENT_PROCESSES = 4
DOUBLE_TAP_EVERY = 4  # the first upload of every 4th phone is sent twice at once
SCAN_EVERY_S = 0.2
ATTEMPTS = 5
TIMEOUT_S = 60  # wx.request / wx.uploadFile default
INSPECTOR, INSPECTOR_PASSWORD = "rush-inspector", "lantern-orchard-quietly-58"  # noqa: S105
ANSWERS = {"applicant_is_agent": False, "floor_area": 120, "investment": 20,
           "sells_alcohol": False, "outdoor_sign": False, "sells_tobacco": False}
BASE = "/api/mp/v1"
PRIVACY_NOTICE_VERSION = next(s.default for s in settings_module.SETTINGS
                              if s.env == "PRIVACY_NOTICE_VERSION")
# p95 goals as the phone sees them (issue 20)
GOALS_S = {"verify": 0.2, "create": 1.0, "fill": 1.0, "submit": 1.0, "upload": 5.0}
ROUTES = {"login": r"POST /auth/login", "consent": r"POST /me/privacy-consent",
          "create": r"POST /applications",
          "fill": r"PATCH /applications/\d+", "upload": r"POST /applications/\d+/materials/\w+",
          "submit": r"POST /applications/\d+/submit", "verify": r"POST /licenses/verify"}
STEPS = tuple(ROUTES)


@dataclass
class Tally:
    """What the phones saw: step latencies, unexpected answers by route, what they got."""

    seconds: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    began: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # time()
    unexpected: Counter = field(default_factory=Counter)  # (step, status) → count
    attempts: Counter = field(default_factory=Counter)  # step → requests sent
    failed: list[str] = field(default_factory=list)  # steps that never succeeded

    def attempt(self, step: str, status: int | str, ok: bool) -> None:
        with _tally_lock:
            self.attempts[step] += 1
            if not ok:
                self.unexpected[(step, status)] += 1

    def took(self, step: str, seconds: float) -> None:
        with _tally_lock:
            self.seconds[step].append(seconds)
            self.began[step].append(time.time() - seconds)

    def during_uploads(self, step: str) -> list[float]:
        """The step's times among those begun while photos were being uploaded."""
        ends = [b + s for b, s in zip(self.began["upload"], self.seconds["upload"],
                                      strict=True)]
        first, last = min(self.began["upload"]), max(ends)
        return [s for b, s in zip(self.began[step], self.seconds[step], strict=True)
                if first <= b <= last]

    def merge(self, other: Tally) -> Tally:
        for step, values in other.seconds.items():
            self.seconds[step] += values
            self.began[step] += other.began[step]
        self.unexpected.update(other.unexpected)
        self.attempts.update(other.attempts)
        self.failed += other.failed
        return self


_tally_lock = threading.Lock()


class Phone:
    """One applicant's phone behind the proxy: its own X-Forwarded-For and connection pool."""

    def __init__(self, base_url: str, n: int, tally: Tally) -> None:
        self.base_url, self.n, self.tally = base_url, n, tally
        self.http = requests.Session()
        self.headers = {"X-Forwarded-For": f"10.{n // 250}.{n % 250}.{7 + n % 200}"}

    def send(self, step: str, method: str, path: str, *, ok: tuple[int, ...] = (200,),
             body=None, **kwargs) -> requests.Response | None:
        """The request until an expected answer, retrying as a phone on weak 4G does;
        ``body`` may be a callable (a fresh login code each attempt). None if it gave up."""
        began = time.perf_counter()
        for attempt in range(ATTEMPTS):
            wait = 2.0 ** attempt
            try:
                resp = self.http.request(method, self.base_url + path, timeout=TIMEOUT_S,
                                         headers=self.headers | kwargs.pop("headers", {}),
                                         json=body() if callable(body) else body, **kwargs)
            except requests.RequestException as error:
                self.tally.attempt(step, type(error).__name__, False)
            else:
                good = resp.status_code in ok
                self.tally.attempt(step, resp.status_code, good)
                if good:
                    self.tally.took(step, time.perf_counter() - began)
                    return resp
                if resp.status_code < 500 and resp.status_code != 429:
                    break  # a refusal a retry cannot change
                wait = min(float(resp.headers.get("Retry-After") or wait), 10.0)
            time.sleep(wait)
        self.tally.failed.append(f"phone {self.n}: {step} {path}")
        return None


def phones(base_url: str, numbers: list[int], photo: bytes, start_at: float) -> Tally:
    """One client process's phones, each on a thread, all starting at ``start_at``. The
    phones are spread over a few processes, and the inspector has one of its own, so that
    no client waits for its own interpreter's GIL and the figures are the server's."""
    tally = Tally()
    threads = [threading.Thread(target=applicant, args=(Phone(base_url, n, tally), photo,
                                                        start_at)) for n in numbers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return tally


def applicant(phone: Phone, photo: bytes, start_at: float) -> None:
    """Log in, create, fill, upload every required material, submit."""
    time.sleep(max(0.0, start_at - time.time()))
    resp = phone.send("login", "POST", f"{BASE}/auth/login",
                      body=lambda: {"code": f"dev-rush{phone.n}.{uuid.uuid4().hex[:8]}"})
    if resp is None:
        return
    phone.headers["Authorization"] = f"Bearer {resp.json()['token']}"
    # the privacy notice, agreed to before the form takes personal data (the version in
    # force is the default setting's: the rush runs the product as `make run` does)
    resp = phone.send("consent", "POST", f"{BASE}/me/privacy-consent",
                      body={"version": PRIVACY_NOTICE_VERSION})
    if resp is None:
        return
    resp = phone.send("create", "POST", f"{BASE}/applications", ok=(201,),
                      body={"industry": "restaurant", "answers": ANSWERS},
                      headers={"Idempotency-Key": uuid.uuid4().hex})
    if resp is None:
        return
    detail = resp.json()
    app_path = f"{BASE}/applications/{detail['id']}"
    resp = phone.send("fill", "PATCH", app_path, body={"fields": form_values(detail)})
    if resp is None:
        return
    required = [m["code"] for m in resp.json()["materials"] if m["state"] == "missing"]
    for k, code in enumerate(required):
        body = photo[:2] + uploads._jpeg_comment(f"rush {phone.n} {k} {secrets.token_hex(6)}") \
            + photo[2:]
        if k == 0 and phone.n % DOUBLE_TAP_EVERY == 0:
            double_tap(phone, f"{app_path}/materials/{code}", body)
        else:
            phone.send("upload", "POST", f"{app_path}/materials/{code}", ok=(201, 200),
                       files={"file": ("photo.jpg", body, "image/jpeg")})
    phone.send("submit", "POST", f"{app_path}/submit",
               headers={"Idempotency-Key": uuid.uuid4().hex})


def double_tap(phone: Phone, path: str, body: bytes) -> None:
    """The same photo twice at once, each tap on its own connection; both must be answered."""
    twin = Phone(phone.base_url, phone.n, phone.tally)
    twin.headers = dict(phone.headers)
    taps = [threading.Thread(target=p.send, args=("upload", "POST", path),
                             kwargs={"ok": (201, 200),
                                     "files": {"file": ("photo.jpg", body, "image/jpeg")}})
            for p in (phone, twin)]
    for t in taps:
        t.start()
    for t in taps:
        t.join()


def form_values(detail: dict) -> dict:
    """Every field the form asks, as an applicant types them (answers already fill some)."""
    values = dict(VALID_ENTITY)
    for code, spec in fields_of(detail).items():
        if spec["value"] is None:
            values.setdefault(code, sample_value(spec))
    return values


def inspector(base_url: str, scans: list[dict], start_at: float, stop: Path) -> Tally:
    """Scan a license every SCAN_EVERY_S from a second before the rush until the file
    ``stop`` exists, through the proxy like the phones."""
    tally = Tally()
    phone = Phone(base_url, APPLICANTS + 1, tally)
    resp = requests.post(base_url + "/api/staff/v1/auth/login", timeout=30,
                         json={"username": INSPECTOR, "password": INSPECTOR_PASSWORD})
    resp.raise_for_status()
    phone.headers["Authorization"] = f"Bearer {resp.json()['token']}"
    n = 0
    time.sleep(max(0.0, start_at - 1 - time.time()))
    while not stop.exists():
        began = time.time()
        resp = phone.send("verify", "POST", f"{BASE}/licenses/verify", body=scans[n % len(scans)])
        if resp is not None and resp.json()["verdict"] != "valid":
            tally.failed.append(f"scan {n}: {resp.json()['verdict']}")
        n += 1
        time.sleep(max(0.0, SCAN_EVERY_S - (time.time() - began)))
    return tally


def descendants(pid: int) -> list[int]:
    children = uploads.worker_pids(pid)
    return [p for child in children for p in (child, *descendants(child))]


def busy_cpu_s() -> float:
    """CPU seconds the whole machine has spent busy since boot (/proc/stat)."""
    user, nice, system, idle, iowait, irq, softirq, steal = map(
        int, Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def cpu_s(pids: list[int]) -> float:
    """CPU seconds (user + system) the given processes have used, their reaped children's
    included."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(map(int, fields[11:15])) / os.sysconf("SC_CLK_TCK")
    return total


def peak_memory(processes: dict[str, subprocess.Popen]) -> dict[str, float]:
    """VmHWM (MB) of every process of the service, named by its role."""
    peaks = {}
    for name, process in processes.items():
        for pid in [process.pid, *descendants(process.pid)]:
            try:
                peaks[f"{name} {pid}"] = uploads.memory_mb(pid)
            except (OSError, RuntimeError):  # gone
                pass
    return peaks


def run(work: Path, env: dict[str, str], *, applicants: int) -> dict:
    settings = prepare_database(env)
    keyring = signatures.Keyring.from_settings(settings.LICENSE_SIGNING_KEYS,
                                               settings.LICENSE_ACTIVE_KEY_ID,
                                               settings.LICENSE_RETIRED_KEY_IDS)
    engine = seed.bulk_engine(settings.database_url)
    seed.seed(engine, 1000)
    app = create_app(settings_module.load(environ=env, LOG_LEVEL="WARNING"))
    with app.app_context():
        staff_service.create(db.session, username=INSPECTOR, display_name="核查员",
                             role="inspector", unit_code="approval_bureau",
                             password=INSPECTOR_PASSWORD)
        db.session.commit()
        db.engine.dispose()

    product = Gunicorn("backend.app:create_app()", env, work / "product.log")
    with (work / "worker.log").open("wb") as log:
        worker = subprocess.Popen([sys.executable, "-m", "flask", "--app",
                                   "backend.app:create_app", "worker"], cwd=PROJECT_ROOT,
                                  env=os.environ | env, stdout=log, stderr=subprocess.STDOUT)
    try:
        product.wait("/readyz")
        scans = [{"scan": signatures.build_verify_url(product.url, seed.license_number(n), 1,
                                                      keyring)} for n in range(0, 1000, 7)]
        photo = phone_jpeg(grain=2)
        groups = [list(range(applicants))[k::CLIENT_PROCESSES] for k in range(CLIENT_PROCESSES)]
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(CLIENT_PROCESSES + 1, mp_context=spawn) as clients:
            start_at = time.time() + 20  # every client process has started and imported
            rush = [clients.submit(phones, product.url, group, photo, start_at)
                    for group in groups]
            scanning = clients.submit(inspector, product.url, scans, start_at, work / "stop")
            time.sleep(max(0.0, start_at - 1.5 - time.time()))
            load_before = os.getloadavg()
            roles = cpu_roles(product.process.pid, worker.pid, work)
            before = {role: cpu_s(pids) for role, pids in roles.items()} | {
                "machine": busy_cpu_s(), "window": time.time()}
            tally = Tally()
            for part in rush:
                tally.merge(part.result())
            wall = time.time() - start_at
            (work / "stop").touch()
            tally.merge(scanning.result())
            cpu = {role: cpu_s(pids) - before[role] for role, pids in roles.items()} | {
                "machine": busy_cpu_s() - before["machine"],
                "window": (time.time() - before["window"]) * os.cpu_count()}
        return {"tally": tally, "wall_s": wall, "load_before": load_before, "cpu": cpu,
                "load_after": os.getloadavg(), "photo_mb": len(photo) / 1e6,
                "memory": peak_memory({"gunicorn": product.process, "worker": worker}),
                "checks": checks(settings.database_url, applicants),
                "errors": server_errors(work / "product.log"),
                "inside": service_seconds(work / "product.log"),
                "versions": versions(settings.database_url, env["REDIS_URL"])}
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        product.stop()


def server_errors(log: Path) -> list[str]:
    """The first few errors the service (or gunicorn) logged, to say what went wrong."""
    lines = [line for line in log.read_text(errors="replace").splitlines()
             if '"level": "ERROR"' in line or "[ERROR]" in line or "[CRITICAL]" in line]
    return [line[-600:] for line in lines[:3]]


def cpu_roles(master: int, worker: int, work: Path) -> dict[str, list[int]]:
    """The processes of the run by role, to say where the CPU went."""
    web = uploads.worker_pids(master)
    servers = {"MariaDB": [], "Redis": []}
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            line = cmdline.read_bytes()
        except OSError:
            continue
        if str(work).encode() in line:  # their data directories are in ``work``
            servers["MariaDB" if b"mariadbd" in line else "Redis"].append(
                int(cmdline.parent.name))
    roles = {"web": [master, *web], "image": [p for w in web for p in descendants(w)],
             "worker": [worker], **servers}
    service = {pid for pids in roles.values() for pid in pids}
    return roles | {"clients": [p for p in descendants(os.getpid()) if p not in service]}


def service_seconds(log: Path) -> dict[str, list[float]]:
    """Each step's time inside the service, from the access lines of the product's log."""
    seconds = defaultdict(list)
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{") and '"message": "request"' in line:
            entry = json.loads(line)
            route = f"{entry['method']} {entry['path'].removeprefix(BASE)}"
            step = next((s for s, pattern in ROUTES.items() if re.fullmatch(pattern, route)),
                        None)
            if step:
                seconds[step].append(entry["duration_ms"] / 1000)
    return seconds


def checks(database_url: str, applicants: int) -> dict[str, tuple[int, int]]:
    """(found, expected): nothing lost or doubled."""
    engine = create_engine(database_url)
    with engine.connect() as conn:
        def count(query) -> int:
            return conn.scalar(query)

        rush = select(Application.id).where(Application.industry_code == "restaurant",
                                            Application.status == "submitted")
        submitted = count(select(func.count()).select_from(rush.subquery()))
        numbers = count(select(func.count(func.distinct(Application.submission_number)))
                        .where(Application.id.in_(rush)))
        pages = count(select(func.count()).select_from(MaterialFile)
                      .where(MaterialFile.application_id.in_(rush)))
        events = count(select(func.count()).select_from(ApplicationEvent).where(
            ApplicationEvent.action == "application.submitted"))
        drafts = count(select(func.count()).select_from(Application).where(
            Application.status == "draft"))
    engine.dispose()
    required = pages // max(submitted, 1)
    return {"applications submitted": (submitted, applicants),
            "distinct submission numbers": (numbers, applicants),
            "submission events": (events, applicants),
            f"material pages ({required} each)": (pages, applicants * required),
            "applications left as drafts": (drafts, 0)}


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def render(report: dict, started: datetime, applicants: int) -> str:
    tally: Tally = report["tally"]
    cpu = report["cpu"]
    others = cpu["machine"] - sum(s for role, s in cpu.items() if role not in {"machine", "window"})
    lines = [
        f"make bench-rush — {started:%Y-%m-%d %H:%M} UTC, {machine()}",
        report["versions"],
        f"load average (1 min) before {report['load_before'][0]:.2f}, after"
        f" {report['load_after'][0]:.2f} (other work on the machine makes figures noisy)",
        "CPU seconds during the rush: " + ", ".join(
            f"{role} {seconds:.1f}" for role, seconds in report["cpu"].items()
            if role not in {"machine", "window"})
        + f"; everything else on the machine {others:.1f}; machine busy"
        f" {report['cpu']['machine']:.1f} of {report['cpu']['window']:.1f}",
        f"{applicants} applicants at once behind the proxy (own X-Forwarded-For each), default"
        f" rate limits; 12 MP photo {report['photo_mb']:.1f} MB; gunicorn -c"
        " config/gunicorn.conf.py + `flask worker`; an inspector scans every"
        f" {SCAN_EVERY_S * 1000:.0f} ms; the rush took {report['wall_s']:.1f} s",
        "",
        f"{'step (as the phone sees it)':<30}{'done':>6}{'sent':>6}{'p50 s':>8}{'p95 s':>8}"
        f"{'max s':>8}{'inside':>8}  goal (p95)",
    ]
    for step in STEPS:
        seconds = tally.seconds.get(step, [])
        if not seconds:
            lines.append(f"{step:<30}{0:>6}{tally.attempts[step]:>6}")
            continue
        goal = GOALS_S.get(step)
        verdict = (f"< {goal:g} s {'PASS' if p95(seconds) < goal else 'FAIL'}" if goal else "")
        inside = report["inside"].get(step)
        lines.append(f"{step:<30}{len(seconds):>6}{tally.attempts[step]:>6}"
                     f"{statistics.median(seconds):>8.3f}{p95(seconds):>8.3f}"
                     f"{max(seconds):>8.3f}{p95(inside) if inside else 0:>8.3f}  {verdict}")
        if step in {"create", "fill", "submit", "verify"} and tally.seconds.get("upload"):
            during = tally.during_uploads(step)
            if during:
                lines.append(f"{'  … while photos were uploaded':<30}{len(during):>6}{'':>6}"
                             f"{statistics.median(during):>8.3f}{p95(during):>8.3f}"
                             f"{max(during):>8.3f}{'':>8}  < {goal:g} s "
                             f"{'PASS' if p95(during) < goal else 'FAIL'}")
    server_errors = sum(n for (_, status), n in tally.unexpected.items()
                        if isinstance(status, int) and status >= 500)
    refused = sum(n for (_, status), n in tally.unexpected.items() if status == 429)
    lines += ["inside: p95 of the same requests inside the service (its access log), from"
              " routing to the answer; the rest of the phone's wait is queueing and retries",
              "", "answers other than expected, by route: " + (", ".join(
        f"{step} {status} ×{n}" for (step, status), n in sorted(
            tally.unexpected.items(), key=str)) or "none"),
              f"5xx: {server_errors} {'PASS' if not server_errors else 'FAIL'}; refused by a"
              f" limit (429): {refused} {'PASS' if not refused else 'FAIL'}; steps given up:"
              f" {len(tally.failed)} {'PASS' if not tally.failed else 'FAIL'}",
              *(f"  {f}" for f in tally.failed[:10]),
              *(f"  logged: {e}" for e in report["errors"]), "", "nothing lost or doubled:"]
    for name, (found, expected) in report["checks"].items():
        lines.append(f"  {name}: {found} (expected {expected})"
                     f" {'PASS' if found == expected else 'FAIL'}")
    memory = report["memory"]
    worst = max(memory.values())
    lines += ["", "peak RSS (VmHWM) per process, MB: " + ", ".join(
        f"{name} {mb:.0f}" for name, mb in sorted(memory.items())),
              f"largest {worst:.0f} MB (goal < 300 MB per process)"
              f" {'PASS' if worst < 300 else 'FAIL'}; all together {sum(memory.values()):.0f} MB"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.rush", description=__doc__)
    parser.add_argument("--applicants", type=int, default=APPLICANTS)
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "docs" / "bench-rush.txt")
    args = parser.parse_args(argv)
    started = datetime.now(UTC)
    with services("yiye-rush-") as (work, env):
        report = run(work, rush_env(env), applicants=args.applicants)
    text = render(report, started, args.applicants)
    print(text)
    args.out.write_text(text)
    print(f"written to {args.out}")


def rush_env(env: dict[str, str]) -> dict[str, str]:
    """The bench's environment with the default rate limits, behind one proxy hop."""
    defaults = {s.env: s.default for s in settings_module.SETTINGS}
    return env | {name: defaults[name] for name in env if name.endswith("_RATE_LIMIT")} | {
        "PROXY_FIX_X_FOR": "1"}


if __name__ == "__main__":
    main()
