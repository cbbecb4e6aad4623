"""Fixtures: a real redis-server on a free loopback port with its own folder, a local test
site, and helpers that run real ``scrapy`` processes from the project root."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import pytest
import redis

from crawler.redis.embedded import server_binary
from tests.redis_topologies import ClusterTopology, SentinelTopology

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RedisServer:
    """A redis-server the tests started; ``url`` points at its database 0."""

    port: int
    folder: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *extra: str) -> None:
        self.process = subprocess.Popen(
            [server_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--dir", str(self.folder), "--logfile", str(self.folder / "redis.log"), *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        with redis.Redis.from_url(self.url) as client:
            while True:
                try:
                    client.ping()
                    return
                except redis.AuthenticationError:  # it answers: it asks for a password
                    return
                except redis.ConnectionError:
                    if time.monotonic() > deadline or self.process.poll() is not None:
                        raise RuntimeError(
                            f"redis-server did not start; see {self.folder}") from None
                    time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(free_port(), tmp_path_factory.mktemp("redis"))
    server.start("--appendonly", "no")
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The test Redis, emptied before each test."""
    with redis.Redis.from_url(redis_server.url) as flusher:
        flusher.flushall()
    return redis_server.url


Topology = TypeVar("Topology", ClusterTopology, SentinelTopology)


def running(topology: Topology) -> Iterator[Topology]:
    """Start ``topology``, yield it, kill its servers."""
    try:
        topology.start()
        yield topology
    finally:
        topology.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterTopology]:
    """A 3-master, 3-replica Redis Cluster, started once (about 2.5 s)."""
    yield from running(ClusterTopology(tmp_path_factory.mktemp("cluster")))


@pytest.fixture
def cluster_url(redis_cluster: ClusterTopology) -> str:
    """A URL naming one node of the session's cluster, emptied before each test."""
    redis_cluster.flush()
    return redis_cluster.url


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[ClusterTopology]:
    """A cluster of the test's own, for a test that kills a master."""
    yield from running(ClusterTopology(tmp_path / "cluster"))


@pytest.fixture
def sentinel_setup(tmp_path: Path) -> Iterator[SentinelTopology]:
    """A master, its replica and a Sentinel of the test's own (about 2 s)."""
    yield from running(SentinelTopology(tmp_path / "sentinel"))


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


@dataclass
class Site:
    url: str
    pages: int

    def page(self, i: int) -> str:
        return f"{self.url}/page?id={i}&lang=en"

    def hits(self) -> dict[int, int]:
        """How often the site served each page so far."""
        with urllib.request.urlopen(f"{self.url}/_hits") as answer:
            return {int(k): v for k, v in json.loads(answer.read()).items()}

    def log(self) -> tuple[list[float], int]:
        """When each page request arrived (sorted), and the most answered at once."""
        with urllib.request.urlopen(f"{self.url}/_log") as answer:
            found = json.loads(answer.read())
        return sorted(found["arrivals"]), int(found["most_at_once"])


def start_site(pages: int, host: str = "127.0.0.1",
               *options: str) -> tuple[subprocess.Popen[str], Site]:
    """A local site on ``host`` (any 127.x.y.z address), with ``crawler.commands.demo.site``'s
    ``options`` (``--delay S``, ``--crawl-delay S``)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "crawler.commands.demo.site", "--pages", str(pages), "--host", host,
         *options], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    port = int(process.stdout.readline())
    return process, Site(f"http://{host}:{port}", pages)


def serve(pages: int) -> Iterator[Site]:
    process, served = start_site(pages)
    yield served
    process.terminate()
    process.wait(10)
    assert process.stdout is not None
    process.stdout.close()


@pytest.fixture(scope="session")
def site() -> Iterator[Site]:
    """A 2,000-page site with duplicate links, fragments and reordered query strings."""
    yield from serve(2000)


@pytest.fixture(scope="session")
def small_site() -> Iterator[Site]:
    """The same kind of site with 200 pages, for tests about something else than scale."""
    yield from serve(200)


@dataclass
class Sites:
    """The same small site on several loopback hosts: one domain each."""

    sites: list[Site]

    @property
    def names(self) -> list[str]:
        """The host names (the domains)."""
        return [urlsplit(site.url).hostname or "" for site in self.sites]

    @property
    def seeds(self) -> str:
        return "".join(site.page(0) + "\n" for site in self.sites)

    @property
    def pages(self) -> int:
        return sum(site.pages for site in self.sites)

    def expected(self) -> Counter[tuple[str, str]]:
        return Counter((name, f"Page {i}") for name, site in zip(self.names, self.sites,
                                                                 strict=True)
                       for i in range(site.pages))


@pytest.fixture(scope="session")
def hosts() -> Iterator[Sites]:
    """A 60-page site on each of 8 loopback hosts (127.0.0.2-9): 8 domains, which a crawl
    of several partitions spreads over them."""
    started = [start_site(60, f"127.0.0.{i}") for i in range(2, 10)]
    yield Sites([site for _, site in started])
    for process, _ in started:
        process.terminate()
        process.wait(10)
        assert process.stdout is not None
        process.stdout.close()


def node_env(redis_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SCRAPY_", "REDIS_", "POSTGRES_"))}
    env.update(REDIS_URL=redis_url, PYTHONWARNINGS="error", PYTHONPATH=str(ROOT))
    return env


NODE_SETTINGS = {
    "MAX_IDLE_TIME_BEFORE_CLOSE": "2",
    "SCHEDULER_HEARTBEAT_SECONDS": "0.2",
    "ROBOTSTXT_OBEY": "False",
    "LOG_LEVEL": "INFO",
    "CONCURRENT_REQUESTS": "16",
}


def scrapy_command(*args: str, settings: dict[str, str] | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "scrapy", *args]
    for name, value in (settings or {}).items():
        cmd += ["-s", f"{name}={value}"]
    return cmd


_started: list[subprocess.Popen[bytes]] = []


@pytest.fixture(autouse=True)
def _no_node_outlives_its_test() -> Iterator[None]:
    """Kill the nodes a test left running (it failed before they ended), so that they do
    not take the next test's seeds from the shared Redis."""
    yield
    while _started:
        node = _started.pop()
        if node.poll() is None:
            node.kill()
            node.wait()


def start_node(redis_url: str, log: Path, spider: str = "site",
               **settings: str) -> subprocess.Popen[bytes]:
    """A ``scrapy crawl SPIDER`` node in its own process, logging to ``log``."""
    with log.open("ab") as handle:
        node = subprocess.Popen(
            scrapy_command("crawl", spider, settings={**NODE_SETTINGS, **settings}),
            cwd=ROOT, env=node_env(redis_url), stdout=handle, stderr=subprocess.STDOUT)
    _started.append(node)
    return node


def run_scrapy(redis_url: str, *args: str, stdin: str | None = None,
               settings: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a ``scrapy`` command to its end and capture its output."""
    return subprocess.run(scrapy_command(*args, settings=settings), cwd=ROOT,
                          env=node_env(redis_url), input=stdin, capture_output=True, text=True,
                          timeout=120)


def wait_all(nodes: list[subprocess.Popen[bytes]], timeout: float = 240) -> list[int]:
    """Wait for every node to exit; kill the rest and fail if they outlive ``timeout``."""
    deadline = time.monotonic() + timeout
    codes = []
    for node in nodes:
        try:
            codes.append(node.wait(max(0.1, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            for other in nodes:
                other.send_signal(signal.SIGKILL)
                other.wait()
            pytest.fail(f"a node did not finish within {timeout} s")
    return codes
