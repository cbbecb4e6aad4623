"""One crawl across several hosts: Redis, the web site and two crawl nodes each on a host
of its own (Linux network namespaces on a private bridge, see ``tests/netns.py``), talking
over real interfaces, one of which is unplugged mid-crawl.

The test reads Redis through the server's Unix socket; seeding and exporting run on a node
host, over the network, as a user's would.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from crawler.redis.keys import CrawlKeys
from tests.conftest import wait_all
from tests.helpers import expected_titles, pages_crawled
from tests.netns import Host, Network, open_network

PAGES = 1000
KEYS = CrawlKeys("crawl", "site")
# A cable pulled out sends no reset: a node notices only when a reply is late, after
# REDIS_SOCKET_TIMEOUT (10 s by default); the cut node here notices within 2 s.
FAST_FAILOVER = {"SCHEDULER_LEASE_SECONDS": "3", "SCHEDULER_NODE_TIMEOUT": "3",
                 "MAX_IDLE_TIME_BEFORE_CLOSE": "3", "REDIS_SOCKET_TIMEOUT": "2",
                 "REDIS_CONNECT_TIMEOUT": "2"}
CUT_SECONDS = 8
WAIT_SECONDS = 120  # a bound for a loaded machine; about 15 s on an idle one


@dataclass
class Hosts:
    """The network and what runs on it."""

    net: Network
    redis_url: str
    site_url: str
    nodes: tuple[Host, Host]

    @property
    def seed_line(self) -> str:
        return f"{self.site_url}/page?id=0&lang=en\n"


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosts]:
    with open_network(tmp_path_factory.mktemp("multihost")) as net:
        redis_url = net.start_redis(net.add_host("redis"))
        site_url = net.start_site(net.add_host("site"), PAGES)
        yield Hosts(net, redis_url, site_url, (net.add_host("node1"), net.add_host("node2")))


@pytest.fixture
def store(hosts: Hosts) -> Iterator[redis.Redis]:
    """The test's own client of the Redis host, emptied before each test; the processes a
    test started are stopped after it, passed or failed."""
    started = len(hosts.net.processes)
    client = hosts.net.local_redis()
    client.flushall()
    yield client
    client.close()
    hosts.net.stop_processes(since=started)


def seed(hosts: Hosts) -> None:
    seeded = hosts.net.scrapy(hosts.nodes[0], hosts.redis_url, "seed", "site", "-",
                              stdin=hosts.seed_line)
    assert seeded.returncode == 0, seeded.stderr


def test_two_hosts_fetch_every_page_exactly_once(hosts: Hosts, store: redis.Redis,
                                                 tmp_path: Path) -> None:
    seed(hosts)
    logs = [tmp_path / "node1.log", tmp_path / "node2.log"]
    nodes = [hosts.net.start_node(host, hosts.redis_url, log)
             for host, log in zip(hosts.nodes, logs, strict=True)]

    assert wait_all(nodes, timeout=WAIT_SECONDS) == [0, 0]

    assert hosts.net.export_titles(hosts.nodes[1], hosts.redis_url) == expected_titles(PAGES)
    crawled = [pages_crawled(log) for log in logs]
    assert all(n > 0 for n in crawled), f"a node did no work: {crawled}"
    assert sum(crawled) == PAGES, f"pages fetched more than once: {crawled}"


def test_a_host_cut_off_mid_crawl_loses_nothing(hosts: Hosts, store: redis.Redis,
                                                tmp_path: Path) -> None:
    seed(hosts)
    logs = [tmp_path / "node1.log", tmp_path / "node2.log"]
    nodes = [hosts.net.start_node(host, hosts.redis_url, log, **FAST_FAILOVER)
             for host, log in zip(hosts.nodes, logs, strict=True)]
    deadline = time.monotonic() + 60
    while store.xlen(KEYS.items) < PAGES * 0.2:
        assert time.monotonic() < deadline, "the crawl did not get going"
        assert all(node.poll() is None for node in nodes), "a node exited early"
        time.sleep(0.05)

    cut_off = hosts.nodes[0]
    hosts.net.cut(cut_off)
    try:
        time.sleep(CUT_SECONDS)
        assert nodes[0].poll() is None, "the cut-off node exited instead of waiting"
    finally:
        hosts.net.plug(cut_off)

    assert wait_all(nodes, timeout=WAIT_SECONDS) == [0, 0]
    assert hosts.net.export_titles(hosts.nodes[1], hosts.redis_url) == expected_titles(PAGES)
    assert store.xlen(KEYS.items) == PAGES
    text = logs[0].read_text(errors="replace")
    lost = text.find(f"Redis at {hosts.redis_url} unreachable (")
    assert lost >= 0, "the cut-off node did not log the outage"
    back = re.search(r"Redis at \S+ is back after (\d+\.\d) s; carrying on", text[lost:])
    assert back is not None, "the cut-off node did not log its recovery"
    assert float(back[1]) >= CUT_SECONDS / 2, f"a short outage: {back[0]}"
