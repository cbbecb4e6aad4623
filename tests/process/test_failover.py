"""A Redis failover in the middle of a crawl loses no page and stores no item twice: a
Redis Cluster master killed with -9 (its replica takes over), and a Sentinel master
failed over (``SENTINEL FAILOVER``, and killed with -9)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from crawler.redis.keys import CrawlKeys
from tests.conftest import Site, run_scrapy, start_node, wait_all
from tests.helpers import expected_titles, export_titles
from tests.process.test_control import wait_until
from tests.redis_topologies import ClusterTopology, SentinelTopology, client_at

KEYS = CrawlKeys("crawl", "site")


def crawl_through(url: str, site: Site, folder: Path, items: Callable[[], int],
                  failover: Callable[[], None]) -> None:
    """Two nodes crawl ``site``; ``failover`` runs once a quarter of it is stored; every
    page must be in the export exactly once."""
    seeded = run_scrapy(url, "seed", "site", "-", stdin=site.page(0) + "\n")
    assert seeded.returncode == 0, seeded.stderr
    nodes = [start_node(url, folder / f"node{i}.log") for i in range(2)]
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

    crawl_through(own_cluster.all_nodes_url, site, tmp_path, items, kill)
    assert own_cluster.master_of(KEYS.stats) != victim, "no failover happened"


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
