"""A Redis failover in the middle of a crawl loses no page and stores no item twice: a
Redis Cluster master killed with -9 (its replica takes over), and a Sentinel master
failed over (``SENTINEL FAILOVER``, and killed with -9). And the control that the
``WAIT`` these rely on is needed: without it, seeds ``scrapy seed`` said it stored are
lost in a failover; with it, the same ``scrapy seed`` fails instead."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from crawler.redis.keys import CrawlKeys
from tests.conftest import Site, Sites, run_scrapy, start_node, wait_all
from tests.helpers import expected_titles, export_pages, export_titles
from tests.process.test_control import wait_until
from tests.redis_topologies import ClusterTopology, SentinelTopology, client_at

KEYS = CrawlKeys("crawl", "site")
PADDING = 30_000_000  # bytes: more than loopback socket buffers hold


def crawl_through(url: str, site: Site, folder: Path, items: Callable[[], int],
                  failover: Callable[[], None], **settings: str) -> None:
    """Two nodes crawl ``site``; ``failover`` runs once a quarter of it is stored; every
    page must be in the export exactly once."""
    seeded = run_scrapy(url, "seed", "site", "-", stdin=site.page(0) + "\n")
    assert seeded.returncode == 0, seeded.stderr
    nodes = [start_node(url, folder / f"node{i}.log", **settings) for i in range(2)]
    wait_until(lambda: items() > site.pages // 4)
    failover()
    assert wait_all(nodes) == [0, 0]
    assert export_titles(url, folder) == expected_titles(site.pages)


def test_a_cluster_master_killed_mid_crawl_loses_nothing(own_cluster: ClusterTopology,
                                                         site: Site, tmp_path: Path) -> None:
    victim = own_cluster.master_of(KEYS.stats)
    reader = redis.RedisCluster(host="127.0.0.1", port=victim)

    def items() -> int:
        return int(reader.xlen(KEYS.items))

    def kill() -> None:
        own_cluster.servers.kill(victim)
        reader.close()

    crawl_through(own_cluster.all_nodes_url, site, tmp_path, items, kill,
                  SCHEDULER_PARTITIONS="1")
    assert own_cluster.master_of(KEYS.stats) != victim, "no failover happened"


@pytest.mark.parametrize("victim_holds", ["seeds and items", "requests only"])
def test_a_cluster_master_killed_mid_crawl_of_partitions_loses_nothing(
        own_cluster: ClusterTopology, hosts: Sites, tmp_path: Path, victim_holds: str) -> None:
    """The default partitions (64 over 3 masters): a crawl of several hosts whose
    requests, leases and acknowledgements span the masters; the one killed holds the
    crawl-wide keys, or only some hosts' partitions."""
    home = own_cluster.master_of(KEYS.stats)
    victim = home if victim_holds == "seeds and items" else next(
        port for port in own_cluster.masters() if port != home)
    reader = redis.RedisCluster(host="127.0.0.1", port=home)
    url = own_cluster.all_nodes_url

    def kill() -> None:
        own_cluster.servers.kill(victim)

    seeded = run_scrapy(url, "seed", "site", "-", stdin=hosts.seeds)
    assert seeded.returncode == 0, seeded.stderr
    nodes = [start_node(url, tmp_path / f"node{i}.log") for i in range(2)]
    try:
        wait_until(lambda: int(reader.xlen(KEYS.items)) > hosts.pages // 4)
    finally:
        reader.close()
    kill()
    assert wait_all(nodes) == [0, 0]
    assert export_pages(url, tmp_path) == hosts.expected()
    assert victim not in own_cluster.masters(), "no failover happened"


@pytest.mark.parametrize("how", ["SENTINEL FAILOVER", "kill -9"])
def test_a_sentinel_failover_mid_crawl_loses_nothing(sentinel_setup: SentinelTopology,
                                                     site: Site, tmp_path: Path,
                                                     how: str) -> None:
    first = sentinel_setup.current_master()

    def items() -> int:
        with client_at(first) as master:
            return int(master.xlen(KEYS.items))

    def failover() -> None:
        if how == "kill -9":
            sentinel_setup.servers.kill(first)
        else:
            with client_at(sentinel_setup.sentinel) as sentinel:
                sentinel.sentinel_failover(sentinel_setup.service)

    crawl_through(sentinel_setup.url, site, tmp_path, items, failover)
    assert sentinel_setup.current_master() != first, "no failover happened"


def test_without_wait_seeds_said_stored_are_lost_in_a_failover(own_cluster: ClusterTopology,
                                                               site: Site) -> None:
    victim = own_cluster.master_of(KEYS.start_urls)
    replica = own_cluster.replica_of(victim)
    own_cluster.servers.pause(replica)
    with client_at(victim) as master:  # fill the sockets to the replica: what follows
        master.set("padding:{site}", b"x" * PADDING)  # stays in the master's memory
    unwaited = run_scrapy(own_cluster.url, "seed", "site", "-", stdin=site.page(1) + "\n",
                          settings={"REDIS_WAIT_REPLICAS": "0"})
    assert unwaited.returncode == 0, unwaited.stderr
    assert unwaited.stdout.startswith("Seeded 1 URLs"), unwaited.stdout
    waited = run_scrapy(own_cluster.url, "seed", "site", "-", stdin=site.page(2) + "\n")
    assert waited.returncode == 1, waited.stdout
    assert "a write reached 0 of the 1 replicas REDIS_WAIT_REPLICAS asks for" in \
        waited.stderr, waited.stderr
    assert "Seeded" not in waited.stdout
    own_cluster.servers.kill(victim)
    own_cluster.servers.resume(replica)
    own_cluster.promote(replica)
    with client_at(replica) as master:
        assert master.exists(KEYS.start_urls) == 0, "the seeds survived: no loss to detect"
