"""Crawls of several partitions with real nodes: on one Redis (SCHEDULER_PARTITIONS=8) and
on a 3-master Redis Cluster (the default count), every page of several hosts exactly once,
the crawl ending by itself, every master holding part of it; a node killed with -9 loses
nothing. (A master killed mid-crawl: ``test_failover``.)"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import redis

from crawler.frontier.partitions import partition_of
from crawler.redis.keys import CrawlKeys
from tests.conftest import Sites, run_scrapy, start_node, wait_all
from tests.helpers import export_pages, pages_crawled
from tests.redis_topologies import ClusterTopology, client_at

KEYS = CrawlKeys("crawl", "site")


def crawl(url: str, hosts: Sites, folder: Path, **settings: str) -> list[int]:
    """Seed ``hosts``, crawl them with two nodes till the crawl ends; each node's pages."""
    seeded = run_scrapy(url, "seed", "site", "-", stdin=hosts.seeds)
    assert seeded.returncode == 0, seeded.stderr
    logs = [folder / f"node{i}.log" for i in range(2)]
    assert wait_all([start_node(url, log, **settings) for log in logs]) == [0, 0]
    assert export_pages(url, folder) == hosts.expected()
    return [pages_crawled(log) for log in logs]


def test_eight_partitions_on_one_redis_fetch_every_page_once_and_end(
        redis_url: str, client: redis.Redis, hosts: Sites, tmp_path: Path) -> None:
    crawled = crawl(redis_url, hosts, tmp_path, SCHEDULER_PARTITIONS="8")
    assert sum(crawled) == hosts.pages, f"pages fetched more than once: {crawled}"
    assert all(crawled), f"a node did no work: {crawled}"
    assert client.hget(KEYS.seen_meta, "partitions") == b"8"
    used = {0} | {partition_of(host, 8) for host in hosts.names}  # 0: the seeds
    for p in range(8):
        done = int(client.hget(KEYS.in_partition(p).stats, "done") or 0)
        assert (done > 0) == (p in used), f"partition {p} acknowledged {done}"


def test_a_cluster_crawl_spreads_over_every_master(cluster_url: str,
                                                   redis_cluster: ClusterTopology,
                                                   hosts: Sites, tmp_path: Path) -> None:
    crawled = crawl(cluster_url, hosts, tmp_path)
    assert sum(crawled) == hosts.pages, f"pages fetched more than once: {crawled}"
    reader = redis.RedisCluster(host="127.0.0.1", port=redis_cluster.base)
    try:
        assert reader.hget(KEYS.seen_meta, "partitions") == b"64"  # 16 a master, rounded up
    finally:
        reader.close()
    for port in redis_cluster.masters():
        with client_at(port) as master:
            held = [k for k in master.scan_iter(match="crawl:{site*", count=1000)]
            assert held, f"master {port} holds none of the crawl's keys"


def test_a_node_killed_mid_crawl_loses_nothing(redis_url: str, client: redis.Redis,
                                               hosts: Sites, tmp_path: Path) -> None:
    settings = {"SCHEDULER_PARTITIONS": "8", "SCHEDULER_LEASE_SECONDS": "3",
                "DOWNLOAD_DELAY": "0.01"}
    seeded = run_scrapy(redis_url, "seed", "site", "-", stdin=hosts.seeds)
    assert seeded.returncode == 0, seeded.stderr
    victim = start_node(redis_url, tmp_path / "victim.log", **settings)
    other = start_node(redis_url, tmp_path / "other.log", **settings)
    while client.xlen(KEYS.items) < hosts.pages // 4:
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert wait_all([other]) == [0]
    assert export_pages(redis_url, tmp_path) == hosts.expected()
