"""What docs/operations.md and docs/capacity.md hand to operators: the systemd units of
deploy/systemd start what the repository holds, and the storage of a case is measurable."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from backend.extensions import db
from backend.models import Application
from backend.services import staff as staff_service
from bench.case_storage import case_files
from tests.test_demo import run_story

ROOT = Path(__file__).resolve().parent.parent
UNITS = sorted((ROOT / "deploy" / "systemd").glob("*.service")) + sorted(
    (ROOT / "deploy" / "systemd").glob("*.target"))
INSTALL_ROOT = "/srv/yiye"  # where the units expect the release


def exec_starts(unit: Path) -> list[list[str]]:
    return [shlex.split(line.split("=", 1)[1]) for line in unit.read_text().splitlines()
            if line.startswith("ExecStart=")]


def test_every_service_starts_a_command_of_this_repository():
    services = [u for u in UNITS if u.suffix == ".service"]
    assert {u.name for u in services} >= {"yiye-web.service", "yiye-worker@.service"}
    commands = [c for unit in services for c in exec_starts(unit)]
    assert commands and all(c[0].startswith(f"{INSTALL_ROOT}/.venv/bin/") for c in commands)
    for command in commands:
        assert (ROOT / command[0].removeprefix(f"{INSTALL_ROOT}/")).exists(), command
        if "-c" in command:  # gunicorn's config file, relative to WorkingDirectory
            assert (ROOT / command[command.index("-c") + 1]).is_file(), command
    web = exec_starts(ROOT / "deploy/systemd/yiye-web.service")[0]
    worker = exec_starts(ROOT / "deploy/systemd/yiye-worker@.service")[0]
    procfile = {name: shlex.split(cmd) for name, cmd in
                (line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines())}
    assert [Path(web[0]).name, *web[1:]] == procfile["web"]  # as `make run` starts them
    assert [Path(worker[0]).name, *worker[1:]] == procfile["worker"]
    assert "emulator" not in " ".join(" ".join(c) for c in commands)


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="no systemd-analyze here")
def test_systemd_accepts_the_units(tmp_path: Path):
    """`systemd-analyze verify` on the units, with the release and settings paths pointed at
    this checkout: every key known, every command executable."""
    for unit in UNITS:
        text = (unit.read_text().replace(INSTALL_ROOT, str(ROOT))
                .replace("/etc/yiye/yiye.env", str(ROOT / ".env.example"))
                .replace("/var/lib/yiye", str(ROOT / "var")))
        (tmp_path / unit.name).write_text(text)
    shutil.copy(tmp_path / "yiye-worker@.service", tmp_path / "yiye-worker@1.service")
    names = [u.name for u in UNITS if "@." not in u.name] + ["yiye-worker@1.service"]
    result = subprocess.run([shutil.which("systemd-analyze"), "verify", "--man=no", *names],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    problems = [line for line in result.stderr.splitlines() if str(tmp_path) in line
                or "yiye" in line]
    assert result.returncode == 0 and not problems, result.stderr


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)  # the files, not the database
def test_the_storage_of_a_licensed_case_is_measured(app):
    """bench/case_storage.py (docs/capacity.md) finds every kind of file of the demo's
    licensed case in the store."""
    with app.app_context():
        staff_service.ensure_demo_accounts(db.session)
        db.session.commit()
    run_story(app)
    store = Path(app.extensions["settings"].MEDIA_ROOT)
    with app.app_context():
        licensed = db.session.scalar(db.select(Application.id)
                                     .where(Application.status == "licensed"))
        files = case_files(db.session, licensed)
    assert {k for k, v in files.items() if v} >= {
        "materials", "thumbnails", "notices", "license PNG", "license PDF (sealed)"}
    for sha in set().union(*files.values()):
        assert (store / sha[:2] / sha[2:4] / sha).is_file()
