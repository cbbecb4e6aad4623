"""Several "hosts" on one machine, built from Linux network namespaces.

Every host is a network namespace with its loopback up and one veth interface (``eth0``)
plugged into a bridge. The bridge lives in a namespace of its own, so this harness adds
nothing to the machine's own (root) namespace: the hosts reach each other over their
``eth0`` and nothing else, on a private subnet (``10.213.0.0/24``) with no route out. Names
carry a random suffix so that runs never collide, and ``Network.close`` deletes everything
it made (processes first, then namespaces; deleting a namespace deletes its interfaces,
and a veth pair dies with either end).

The test process itself stays in the root namespace. It talks to the Redis host through a
Unix socket the server also listens on (a socket file is reached through the file system,
not the network), and runs ``scrapy`` commands *inside* a host (``Network.scrapy``), which
reach Redis over the bridge like any other host would.

Needs root, ``ip`` (iproute2) and a kernel that lets it create namespaces; ``network``
skips the test with the reason when one is missing.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from crawler.redis.embedded import server_binary
from tests.conftest import NODE_SETTINGS, ROOT, node_env, scrapy_command

SUBNET = "10.213.0"
PREFIX = 24
REDIS_PORT = 6379
STOP_SECONDS = 10


def run_ip(*args: str) -> None:
    """Run ``ip ARGS``; a failure raises with what ``ip`` said."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {done.stderr.strip()}")


@dataclass
class Host:
    """One namespace on the bridge: ``address`` on its ``eth0``, ``peer`` on the bridge."""

    role: str
    namespace: str
    address: str
    peer: str

    def command(self, *args: str) -> list[str]:
        """``args`` run inside this host."""
        return ["ip", "netns", "exec", self.namespace, *args]


@dataclass
class Network:
    """A bridge and the hosts on it, and every process started on them."""

    folder: Path
    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    hosts: dict[str, Host] = field(default_factory=dict)
    processes: list[subprocess.Popen[bytes] | subprocess.Popen[str]] = field(
        default_factory=list)
    namespaces: list[str] = field(default_factory=list)

    @property
    def bridge_namespace(self) -> str:
        return f"mh{self.tag}-net"

    def open(self) -> None:
        """Create the bridge's namespace and the bridge in it."""
        self._add_namespace(self.bridge_namespace)
        run_ip("-n", self.bridge_namespace, "link", "add", "br0", "type", "bridge")
        run_ip("-n", self.bridge_namespace, "link", "set", "br0", "up")

    def add_host(self, role: str) -> Host:
        """A new host on the bridge, with the next free address."""
        namespace = f"mh{self.tag}-{role}"
        host = Host(role, namespace, f"{SUBNET}.{len(self.hosts) + 2}",
                    f"v{self.tag}{len(self.hosts)}")
        self._add_namespace(namespace)
        run_ip("link", "add", "eth0", "netns", namespace, "type", "veth",
               "peer", "name", host.peer, "netns", self.bridge_namespace)
        run_ip("-n", self.bridge_namespace, "link", "set", host.peer, "master", "br0")
        run_ip("-n", self.bridge_namespace, "link", "set", host.peer, "up")
        run_ip("-n", namespace, "addr", "add", f"{host.address}/{PREFIX}", "dev", "eth0")
        run_ip("-n", namespace, "link", "set", "eth0", "up")
        self.hosts[role] = host
        return host

    def _add_namespace(self, name: str) -> None:
        run_ip("netns", "add", name)
        self.namespaces.append(name)
        run_ip("-n", name, "link", "set", "lo", "up")

    # -- the wire ---------------------------------------------------------------------
    def cut(self, host: Host) -> None:
        """Unplug ``host``: its port on the bridge goes down, as a pulled cable would."""
        run_ip("-n", self.bridge_namespace, "link", "set", host.peer, "down")

    def plug(self, host: Host) -> None:
        """Plug ``host`` back in."""
        run_ip("-n", self.bridge_namespace, "link", "set", host.peer, "up")

    # -- processes ----------------------------------------------------------------------
    def start_redis(self, host: Host) -> str:
        """redis-server with append-only persistence on ``host``; returns its ``redis://``
        URL. It also listens on a Unix socket in ``folder`` (see ``local_redis``)."""
        data = self.folder / "redis"
        data.mkdir()
        process = subprocess.Popen(
            host.command(server_binary(), "--bind", host.address, "--port", str(REDIS_PORT),
                         "--protected-mode", "no", "--unixsocket", str(self.socket),
                         "--unixsocketperm", "700", "--appendonly", "yes", "--save", "",
                         "--dir", str(data), "--logfile", str(data / "redis.log")),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.processes.append(process)
        client = self.local_redis()
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except (redis.ConnectionError, FileNotFoundError):
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"redis-server did not start; see {data}") from None
                time.sleep(0.05)
        client.close()
        return f"redis://{host.address}:{REDIS_PORT}/0"

    @property
    def socket(self) -> Path:
        return self.folder / "redis.sock"

    def local_redis(self) -> redis.Redis:
        """A client for the test itself, through the Redis host's Unix socket."""
        return redis.Redis(unix_socket_path=str(self.socket))

    def start_site(self, host: Host, pages: int) -> str:
        """The local test site served on ``host``'s address; returns its base URL."""
        process = subprocess.Popen(
            host.command(sys.executable, "-m", "crawler.commands.demo.site", "--pages", str(pages),
                         "--host", host.address),
            cwd=ROOT, stdout=subprocess.PIPE, text=True)
        self.processes.append(process)
        assert process.stdout is not None
        port = process.stdout.readline().strip()
        if not port.isdigit():
            raise RuntimeError(f"the test site did not start on {host.namespace}")
        return f"http://{host.address}:{port}"

    def start_node(self, host: Host, redis_url: str, log: Path,
                   **settings: str) -> subprocess.Popen[bytes]:
        """``scrapy crawl site`` on ``host``, logging to ``log``."""
        with log.open("ab") as handle:
            process = subprocess.Popen(
                host.command(*scrapy_command("crawl", "site",
                                             settings={**NODE_SETTINGS, **settings})),
                cwd=ROOT, env=node_env(redis_url), stdout=handle, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def scrapy(self, host: Host, redis_url: str, *args: str,
               stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a ``scrapy`` command on ``host`` to its end (at most 120 s)."""
        return subprocess.run(host.command(*scrapy_command(*args)), cwd=ROOT,
                              env=node_env(redis_url), input=stdin, capture_output=True,
                              text=True, timeout=120)

    def export_titles(self, host: Host, redis_url: str) -> Counter[str]:
        """``scrapy export`` run on ``host``: the exported items counted by page title."""
        target = self.folder / "items.jsonl"
        target.unlink(missing_ok=True)
        result = self.scrapy(host, redis_url, "export", "site", "-o", str(target))
        assert result.returncode == 0, result.stderr
        rows = [json.loads(line) for line in target.read_text().splitlines()]
        return Counter(row["title"] for row in rows)

    # -- teardown -----------------------------------------------------------------------
    def stop_processes(self, since: int = 0) -> None:
        """Stop the processes started after the first ``since``, newest first (the nodes
        before Redis, so that they close cleanly): SIGTERM, then SIGKILL after 10 s."""
        for process in reversed(self.processes[since:]):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(STOP_SECONDS)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(STOP_SECONDS)
            if process.stdout is not None:
                process.stdout.close()
        del self.processes[since:]

    def close(self) -> None:
        """Stop every process, then delete every namespace and so every interface."""
        self.stop_processes()
        errors = []
        for name in reversed(self.namespaces):
            try:
                run_ip("netns", "delete", name)
            except RuntimeError as exc:
                errors.append(str(exc))
        self.namespaces.clear()
        if errors:
            raise RuntimeError("; ".join(errors))


def unavailable_reason() -> str | None:
    """Why namespaces cannot be made here, or ``None`` if they can."""
    if not sys.platform.startswith("linux"):
        return "network namespaces are Linux only"
    if shutil.which("ip") is None:
        return "no `ip` command (iproute2)"
    if os.geteuid() != 0:
        return "creating network namespaces needs root"
    probe = f"mhprobe-{secrets.token_hex(3)}"
    try:
        run_ip("netns", "add", probe)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot create a network namespace: {exc}"
    try:
        done = subprocess.run(["ip", "netns", "exec", probe, "true"], capture_output=True,
                              text=True, timeout=30)
        if done.returncode != 0:
            return f"cannot run a process in a network namespace: {done.stderr.strip()}"
    finally:
        run_ip("netns", "delete", probe)
    return None


@contextlib.contextmanager
def open_network(folder: Path) -> Iterator[Network]:
    """A ``Network`` with its bridge, closed on the way out even when the test failed;
    skips the test when namespaces cannot be created here."""
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(f"multi-host tests need network namespaces: {reason}")
    net = Network(folder)
    try:
        net.open()
        yield net
    finally:
        net.close()
