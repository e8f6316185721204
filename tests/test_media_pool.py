"""Image work in processes of its own (media/pool.py): out of the web process, at a lower CPU
priority than the web threads, with refusals whole and a dead process costing no upload."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from media import pool
from media.errors import MediaRejected
from tests.live import ROOT
from tests.media_files import bomb_png, phone_jpeg

LIMITS = {"max_bytes": 10 << 20, "max_pixels": 50_000_000, "long_side": 2560}


def niceness(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


@pytest.fixture
def photo(tmp_path: Path) -> str:
    path = tmp_path / "photo.jpg"
    path.write_bytes(phone_jpeg(seed=8))
    return str(path)


def test_image_work_runs_in_lower_priority_processes_of_its_own(photo):
    pool.configure(2)
    workers = pool.start()
    assert len(workers) == 2 and os.getpid() not in workers
    own = niceness(os.getpid())
    assert {niceness(pid) for pid in workers} == {min(own + pool.IMAGE_NICE, 19)}
    clean = pool.normalise(photo, **LIMITS)
    assert clean.media_type == "image/jpeg" and max(clean.width, clean.height) <= 2560
    assert clean.content.startswith(b"\xff\xd8") and clean.thumbnail


def test_a_refusal_crosses_from_the_image_process_whole(tmp_path: Path):
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb_png())
    with pytest.raises(MediaRejected) as caught:
        pool.normalise(str(path), **LIMITS)
    assert caught.value.code == "UPLOAD_TOO_MANY_PIXELS"
    assert caught.value.details["limit"] == LIMITS["max_pixels"]
    assert "分辨率" in caught.value.message


def test_a_dead_image_process_costs_no_upload(photo):
    pool.configure(2)
    killed = pool.start()
    for pid in killed:
        os.kill(pid, signal.SIGKILL)  # as the kernel's OOM killer would
    assert pool.normalise(photo, **LIMITS).media_type == "image/jpeg"
    assert not pool.start() & killed  # a fresh pool



PINNED_START = """
import os
from media import pool  # loaded with the app, before gunicorn pins the web process
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
pool.configure(2)
print(sorted(len(os.sched_getaffinity(pid)) for pid in pool.start()))
"""


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_image_processes_run_on_every_cpu_though_their_web_process_is_pinned():
    """A gunicorn web process runs on one CPU (config/gunicorn.conf.py); the image processes
    it starts (through a forkserver it starts while pinned) run on every CPU it had."""
    every = len(os.sched_getaffinity(0))
    started = subprocess.run([sys.executable, "-c", PINNED_START], cwd=ROOT, timeout=60,
                             capture_output=True, text=True, check=True)
    assert started.stdout.split() == [f"[{every},", f"{every}]"]
