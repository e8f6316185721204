"""`python -m backend.security.bench`: the cost of one license QR verification (what the public
page pays per uncached scan) and of one signing (per issued version), per signature scheme:
Ed25519 and SM2 with SM3. Results are recorded in docs/bench-signatures.txt.

Each call is timed on its own; the medians of wall and CPU time are printed (the machine may
be shared: CPU time is the steadier figure).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from importlib.metadata import version

from backend.security.signatures import Keyring, generate_key_text, license_message


def _medians_us(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    wall, cpu = [], []
    for _ in range(runs):
        start_wall, start_cpu = time.perf_counter_ns(), time.thread_time_ns()
        fn()
        cpu.append(time.thread_time_ns() - start_cpu)
        wall.append(time.perf_counter_ns() - start_wall)
    return statistics.median(wall) / 1000, statistics.median(cpu) / 1000


def measure(scheme: str, runs: int) -> dict[str, tuple[float, float]]:
    """{"verify": (wall µs, CPU µs), "sign": (…)} medians for a fresh key of ``scheme``."""
    ring = Keyring.from_settings(generate_key_text("bench", scheme), "bench")
    message = license_message("JZ1401052026000123", 3)
    kid, sig = ring.sign(message)

    def verify() -> None:
        if not ring.verify(kid, sig, message):
            raise SystemExit(f"{scheme}: a good signature did not verify")

    verify()  # warm up
    return {"verify": _medians_us(verify, runs), "sign": _medians_us(
        lambda: ring.sign(message), max(runs // 5, 1))}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m backend.security.bench",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000, help="verifications per scheme")
    args = parser.parse_args(argv)
    print(f"python -m backend.security.bench: Python {platform.python_version()},"
          f" cryptography {version('cryptography')}, PyNaCl {version('PyNaCl')},"
          f" gmssl-pyx {version('gmssl-pyx')},"
          f" {os.cpu_count()} CPUs")
    for scheme in ("ed25519", "sm2"):
        figures = measure(scheme, args.runs)
        for operation, runs in (("verify", args.runs), ("sign", max(args.runs // 5, 1))):
            wall, cpu = figures[operation]
            print(f"{scheme:8} {operation:6} median of {runs}: {wall:8.1f} µs wall,"
                  f" {cpu:8.1f} µs CPU")


if __name__ == "__main__":
    main()
