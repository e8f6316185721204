"""Driving a server with wrk (Debian package) and reading its figures back."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).with_name("wrk.lua")
THREADS, CONNECTIONS = 2, 32


@dataclass(frozen=True)
class Result:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int  # connect/read/write errors, timeouts and HTTP statuses ≥ 400

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def run(base_url: str, path: str = "/", *, seconds: float, paths: list[str] | None = None,
        once: bool = False, method: str = "GET", body: bytes | None = None,
        content_type: str = "application/json") -> Result:
    """wrk -t2 -c32 for ``seconds`` on one path, or on ``paths`` in turn (``once``: each at
    most once, stopping when all were asked)."""
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        env = os.environ | {"BENCH_THREADS": str(THREADS), "BENCH_ONCE": "1" if once else "",
                            "BENCH_METHOD": method, "BENCH_PATHS": "", "BENCH_BODY": "",
                            "BENCH_CONTENT_TYPE": content_type}
        if paths:
            env["BENCH_PATHS"] = str(Path(tmp) / "paths")
            Path(env["BENCH_PATHS"]).write_text("\n".join(paths) + "\n")
        if body is not None:
            env["BENCH_BODY"] = str(Path(tmp) / "body")
            Path(env["BENCH_BODY"]).write_bytes(body)
        out = subprocess.run(
            ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds:g}s", "--timeout", "10s",
             "-s", str(SCRIPT), base_url.rstrip("/") + path],
            env=env, capture_output=True, text=True, check=True, timeout=seconds + 60)
    line = next((x for x in out.stdout.splitlines() if x.startswith("BENCH_RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{out.stdout}\n{out.stderr}")
    raw = json.loads(line.removeprefix("BENCH_RESULT "))
    errors = sum(raw[k] for k in ("connect_errors", "read_errors", "write_errors",
                                  "status_errors", "timeouts"))
    return Result(requests=raw["requests"], seconds=raw["duration_us"] / 1e6,
                  p50_ms=raw["p50_us"] / 1000, p99_ms=raw["p99_us"] / 1000, errors=errors)
