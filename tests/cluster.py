"""The service on more than one host, on one machine: two web hosts behind HAProxy, two
workers, files in SeaweedFS (S3), MariaDB and Redis — for `make test-cluster` and for
operators to copy (`make cluster` runs ``python -m tests.cluster``).

The application's processes are the lines of ``Procfile.cluster`` (read here, so the tests
cannot drift from it) with ``${VAR}`` filled from the environment; the load balancer's
configuration is ``config/haproxy.cfg``. MariaDB, Redis and SeaweedFS are started as the test
suite starts them (tests/servers.py: throwaway, as root, no systemd).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

import requests

from tests import live, servers
from tests.live import ROOT, Client, LiveServer

PROCFILE = ROOT / "Procfile.cluster"
WEB_HOSTS = ("web1", "web2")
WORKERS = ("worker1", "worker2")
# the bucket's key prefix of a cluster (several may share one SeaweedFS in a test run)
PREFIX = "cluster/"


def commands(env: dict[str, str], path: Path = PROCFILE) -> dict[str, list[str]]:
    """``name: command`` lines of Procfile.cluster, ``${VAR}`` taken from ``env`` (as the
    shell honcho runs them with would)."""
    return {name: [Template(arg).substitute(env) for arg in args]
            for name, args in live.procfile(path).items()}


def environment(workdir: Path, *, database_url: str, redis_url: str, s3_endpoint: str,
                ports: dict[str, int] | None = None, **extra: str) -> dict[str, str]:
    """`make run`'s environment (tests/live.py) for a cluster: the web hosts' ports, the
    load balancer's, the shared bucket; every link the service prints names the balancer."""
    env = live.environment(workdir, database_url=database_url, redis_url=redis_url)
    del env["GUNICORN_CMD_ARGS"]  # one control socket each: config/gunicorn.conf.py's by port
    ports = ports or {}
    lb, web1, web2 = (ports.get(name) or servers.free_port() for name in ("lb", "web1", "web2"))
    public = f"http://127.0.0.1:{lb}"
    return env | {
        "PORT": str(lb),
        "WEB1_PORT": str(web1), "WEB2_PORT": str(web2),
        "WEB1_ADDRESS": f"127.0.0.1:{web1}", "WEB2_ADDRESS": f"127.0.0.1:{web2}",
        "HAPROXY_BIND": f"127.0.0.1:{lb}",
        "PUBLIC_BASE_URL": public, "LICENSE_VERIFY_BASE_URL": public,
        "MEDIA_S3_ENDPOINT": s3_endpoint, "MEDIA_S3_BUCKET": servers.S3_BUCKET,
        "MEDIA_S3_ACCESS_KEY": servers.S3_ACCESS_KEY,
        "MEDIA_S3_SECRET_KEY": servers.S3_SECRET_KEY, "MEDIA_S3_PREFIX": PREFIX,
    } | extra


@dataclass
class Cluster(LiveServer):
    """A running cluster; ``base_url`` is the load balancer. Every response through a
    :meth:`client` is kept in ``seen`` (its ``X-Served-By`` names the web host)."""

    seen: list[requests.Response] = field(default_factory=list)
    killed: set[str] = field(default_factory=set)

    def client(self, source_address: str | None = None) -> Client:
        return Client(self.base_url, source_address, seen=self.seen)

    def host_url(self, name: str) -> str:
        """One web host directly, past the balancer (``web1`` / ``web2``)."""
        return f"http://127.0.0.1:{self.env[name.upper() + '_PORT']}"

    def host(self, name: str) -> Client:
        return Client(self.host_url(name))

    def served_by(self, since: int = 0) -> Counter:
        """How many responses each web host gave, of those seen from ``since`` on."""
        return Counter(r.headers.get("X-Served-By") for r in self.seen[since:])

    def start(self) -> Cluster:
        started = time.monotonic()
        self.migrate()
        for name, command in commands(self.env).items():
            self.launch(name, command)
        self.wait_ready()
        self.timings["start"] = time.monotonic() - started - self.timings["migrate"]
        return self

    def launch(self, name: str, command: list[str] | None = None) -> None:
        """Start (or start again) one Procfile.cluster process, in a process group of its
        own so that :meth:`kill` takes its children (gunicorn's workers) with it."""
        command = command or commands(self.env)[name]
        if command[0] == "haproxy":
            command = [servers.need("haproxy"), *command[1:]]  # in /usr/sbin
        with (self.workdir / "logs" / f"{name}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        self.killed.discard(name)

    def kill(self, name: str) -> None:
        """SIGKILL one process and its children, as a host that dies: no cleanup at all.

        A web host is dead once nothing listens on its port: gunicorn's workers share the
        listening socket and die a moment after the master, and a connection the kernel
        queued meanwhile is reset unanswered (the balancer does not resend such a request,
        it may have been handled; it closes the client's connection instead)."""
        process = self.processes[name]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        self.killed.add(name)
        if name in WEB_HOSTS:
            port = int(self.env[name.upper() + "_PORT"])
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                except OSError:
                    return
                time.sleep(0.02)
            raise RuntimeError(f"{name} still listens on {port} after SIGKILL")

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Every host ready and in the balancer's pool: requests answered by both."""
        deadline = time.monotonic() + timeout
        probe = Client(self.base_url)
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode}\n{self.logs()}")
            try:
                answered = {probe.get("/readyz").headers.get("X-Served-By") for _ in range(4)}
                if answered >= set(WEB_HOSTS) and all(
                        requests.get(url, timeout=2).status_code < 500
                        for url in (self.env["WECHAT_API_BASE"], self.library_url)):
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the cluster is not ready after {timeout}s\n{self.logs()}")

    def stop(self) -> None:
        started = time.monotonic()
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.timings["stop"] = time.monotonic() - started


def main() -> None:
    """`make cluster`: everything on this machine until Ctrl-C; ports from LB_PORT (8000),
    WEB1_PORT (8001), WEB2_PORT (8002); data in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="yiye-cluster-") as d:
        workdir = Path(d)
        started: list[servers.Server] = []
        try:
            for name in ("mariadb", "redis", "seaweedfs"):
                (workdir / name).mkdir()
            started.append(servers.start_mariadb(workdir / "mariadb"))
            started.append(servers.start_redis(workdir / "redis"))
            print("starting SeaweedFS (a few seconds) …", flush=True)
            started.append(servers.start_seaweedfs(workdir / "seaweedfs"))
            mariadb, redis, s3 = started
            ports = {"lb": int(os.environ.get("LB_PORT") or 8000),
                     "web1": int(os.environ.get("WEB1_PORT") or 8001),
                     "web2": int(os.environ.get("WEB2_PORT") or 8002)}
            env = environment(workdir, database_url=mariadb.url, redis_url=redis.url,
                              s3_endpoint=s3.url, ports=ports)
            cluster = Cluster("cluster", env, workdir)
            print("migrating and starting web1, web2, worker1, worker2, HAProxy …", flush=True)
            cluster.start()
            try:
                print(f"load balancer:  {cluster.base_url}/docs  (console: /console/)\n"
                      f"web hosts:      {cluster.host_url('web1')}  {cluster.host_url('web2')}\n"
                      f"S3 (SeaweedFS): {s3.url}  bucket {servers.S3_BUCKET}\n"
                      f"MariaDB:        {mariadb.url}\nRedis:          {redis.url}\n"
                      f"WeChat emulator: {env['WECHAT_API_BASE']}  logs: {workdir / 'logs'}\n"
                      "Ctrl-C stops everything.", flush=True)
                signal.signal(signal.SIGTERM, signal.default_int_handler)
                try:
                    signal.pause()
                except KeyboardInterrupt:
                    print("stopping …", flush=True)
            finally:
                cluster.stop()
        finally:
            for server in reversed(started):
                server.stop()


if __name__ == "__main__":
    main()
