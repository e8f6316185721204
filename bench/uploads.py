"""Uploads under load: 20 phones sending a 12 MP photo at once to one server.

Through the real endpoint (`POST …/applications/{id}/materials/{code}`, multipart field
``file``), each phone an applicant logged in through the WeChat emulator with its own draft.
Before that, an over-limit body is sent twice (declared length, and chunked with no length)
to show it is refused without being read into memory: the workers' peak RSS (VmHWM) must
not grow by the body size. Figures: latency p50/p95 and each worker's peak RSS.
"""

from __future__ import annotations

import secrets
import socket
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests

from media.bench import phone_jpeg

PHONES = 20
MATERIAL = "premises_proof"
ANSWERS = {"applicant_is_agent": False, "floor_area": 450, "investment": 80,
           "sells_alcohol": True, "outdoor_sign": False, "sells_tobacco": False}
OVERSIZED_MB = 64


@dataclass
class Report:
    photo_mb: float
    latencies_s: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    peak_rss_mb: dict[int, float] = field(default_factory=dict)  # worker pid → VmHWM
    oversized: list[str] = field(default_factory=list)  # one line per refused body

    def lines(self) -> list[str]:
        lat = sorted(self.latencies_s)
        p95 = lat[max(0, round(0.95 * len(lat)) - 1)]
        ok = sum(s in (200, 201) for s in self.statuses)
        worst = max(self.peak_rss_mb.values())
        return [
            f"{PHONES} concurrent uploads of a 12 MP phone JPEG ({self.photo_mb:.1f} MB), one"
            f" server: {ok}/{len(self.statuses)} stored; p50 {statistics.median(lat):.2f} s,"
            f" p95 {p95:.2f} s (goal < 3 s) {'PASS' if p95 < 3 and ok == PHONES else 'FAIL'}",
            "peak RSS (VmHWM) per worker: " + ", ".join(
                f"{mb:.0f} MB" for mb in self.peak_rss_mb.values())
            + f" (goal < 300 MB) {'PASS' if worst < 300 else 'FAIL'}",
            *self.oversized,
        ]


def worker_pids(master: int) -> list[int]:
    """gunicorn's workers: the master's children."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master:
            children.append(int(stat.parent.name))
    return sorted(children)


def memory_mb(pid: int, key: str = "VmHWM") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {key} for {pid}")


def run(base_url: str, master_pid: int) -> Report:
    """Needs a server with upload and login rate limits out of the way."""
    photo = phone_jpeg(grain=2)  # ~3.4 MB, like a phone's 12 MP JPEG
    report = Report(photo_mb=len(photo) / 1e6)
    phones = [_phone(base_url, n) for n in range(PHONES)]
    workers = worker_pids(master_pid)
    report.oversized = [_oversized(base_url, phones[0], workers, chunked=chunked)
                        for chunked in (False, True)]
    # distinct bytes per phone (a JPEG comment), so no upload is a cheap duplicate
    bodies = [photo[:2] + _jpeg_comment(f"bench {n} {secrets.token_hex(8)}") + photo[2:]
              for n in range(PHONES)]
    start = threading.Barrier(PHONES)
    lock = threading.Lock()

    def upload(n: int) -> None:
        headers, url = phones[n]
        start.wait()
        began = time.perf_counter()
        resp = requests.post(url, headers=headers, timeout=120,
                             files={"file": ("photo.jpg", bodies[n], "image/jpeg")})
        with lock:
            report.latencies_s.append(time.perf_counter() - began)
            report.statuses.append(resp.status_code)

    threads = [threading.Thread(target=upload, args=(n,)) for n in range(PHONES)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report.peak_rss_mb = {pid: memory_mb(pid) for pid in workers}
    return report


def _phone(base_url: str, n: int) -> tuple[dict[str, str], str]:
    """An applicant logged in through the emulator, with a draft: (headers, upload URL)."""
    resp = requests.post(f"{base_url}/api/mp/v1/auth/login", timeout=30,
                         json={"code": f"dev-bench{n}.{secrets.token_hex(4)}"})
    resp.raise_for_status()
    headers = {"Authorization": f"Bearer {resp.json()['token']}"}
    resp = requests.post(f"{base_url}/api/mp/v1/applications", headers=headers, timeout=30,
                         json={"industry": "restaurant", "answers": ANSWERS})
    if resp.status_code != 201:
        raise RuntimeError(f"draft not created: {resp.status_code} {resp.text[:300]}")
    return headers, f"{base_url}/api/mp/v1/applications/{resp.json()['id']}/materials/{MATERIAL}"


def _jpeg_comment(text: str) -> bytes:
    data = text.encode()
    return b"\xff\xfe" + (len(data) + 2).to_bytes(2, "big") + data


def _oversized(base_url: str, phone: tuple[dict[str, str], str], workers: list[int], *,
               chunked: bool) -> str:
    """Send a multipart body of OVERSIZED_MB over a raw socket, stopping when the server
    answers; report the status, how much was sent and the workers' peak RSS growth."""
    headers, url = phone
    before = {pid: memory_mb(pid) for pid in workers}
    boundary = "bench" + secrets.token_hex(8)
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="big.jpg"\r\nContent-Type: image/jpeg\r\n\r\n').encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = OVERSIZED_MB << 20
    parts = urlsplit(url)
    request_head = [f"POST {parts.path} HTTP/1.1", f"Host: {parts.netloc}",
                    f"Authorization: {headers['Authorization']}",
                    f"Content-Type: multipart/form-data; boundary={boundary}",
                    "Connection: close"]
    request_head.append("Transfer-Encoding: chunked" if chunked
                        else f"Content-Length: {len(head) + size + len(tail)}")
    chunk = b"\xff\xd8\xff" + bytes((1 << 20) - 3)
    sent, answer = 0, b""
    with socket.create_connection((parts.hostname, parts.port), timeout=60) as sock:
        sock.sendall(("\r\n".join(request_head) + "\r\n\r\n").encode())
        pieces = [head, *([chunk] * OVERSIZED_MB), tail]
        sock.setblocking(False)
        for piece in pieces:
            data = f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece
            answer = _send_until_answer(sock, data)
            sent += len(piece)
            if answer:
                break
        else:
            if chunked:
                _send_until_answer(sock, b"0\r\n\r\n")
        sock.setblocking(True)
        answer = answer or sock.recv(4096)
    status = answer.split(b" ", 2)[1].decode() if answer.startswith(b"HTTP/") else "none"
    growth = max(memory_mb(pid) - before[pid] for pid in workers)
    how = "chunked, no length" if chunked else "declared length"
    verdict = "PASS" if status == "413" and growth < OVERSIZED_MB / 4 else "FAIL"
    return (f"{OVERSIZED_MB} MB body ({how}): HTTP {status} after {sent / 2**20:.0f} MB sent;"
            f" workers' peak RSS grew {growth:.1f} MB {verdict}")


def _send_until_answer(sock: socket.socket, data: bytes) -> bytes:
    """Send ``data`` unless the server has answered (or closed); returns what it said."""
    view = memoryview(data)
    while view:
        try:
            answer = sock.recv(4096)
            return answer or b"closed"
        except BlockingIOError:
            pass
        try:
            view = view[sock.send(view):]
        except BlockingIOError:
            time.sleep(0.001)
        except (BrokenPipeError, ConnectionResetError):
            return b"closed"
    return b""
