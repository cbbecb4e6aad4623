"""A crawl's slots moved to another master in the middle of a crawl (a reshard, as
``redis-cli --cluster reshard`` moves slots) lose no page, store no item twice, and the
crawl ends by itself, its keys on the new masters: the one slot of a one-partition crawl,
and several partitions' slots of a crawl of several. Each move holds its slot half-moved
until the nodes met it (``move_slot(until_met=True)``), however fast it would be."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.crc import key_slot

from tests.conftest import Site, Sites, run_scrapy, start_node, start_site, wait_all
from tests.helpers import export_pages
from tests.process.test_control import wait_until
from tests.process.test_failover import KEYS, crawl_through
from tests.redis_topologies import ClusterTopology, client_at

PARTITIONS = 8
ZERO_HOST = "127.0.0.12"  # a host of partition 0 in a crawl of 8 (crc32 % 8 == 0)


def test_a_crawl_slot_resharded_mid_crawl_loses_nothing(own_cluster: ClusterTopology,
                                                        site: Site, tmp_path: Path) -> None:
    slot = key_slot(KEYS.stats.encode())
    source = own_cluster.owner(slot)
    target = next(port for port in own_cluster.masters() if port != source)
    reader = redis.RedisCluster(host="127.0.0.1", port=target)

    def items() -> int:
        return int(reader.xlen(KEYS.items))

    try:
        crawl_through(own_cluster.url, site, tmp_path, items,
                      lambda: own_cluster.move_slot(slot, target, until_met=True),
                      SCHEDULER_PARTITIONS="1")
    finally:
        reader.close()
    assert own_cluster.owner(slot) == target
    with client_at(source) as old, client_at(target) as new:
        assert old.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) == 0
        assert new.exists(KEYS.stats, KEYS.items) == 2


@pytest.fixture
def zero_site() -> Iterator[Site]:
    """A 120-page site on a host of partition 0, slow to answer (0.1 s a page), so that
    partition 0 still holds work when its slot moves."""
    process, served = start_site(120, ZERO_HOST, "--delay", "0.1")
    yield served
    process.terminate()
    process.wait(10)
    assert process.stdout is not None
    process.stdout.close()


def test_partitions_resharded_mid_crawl_lose_nothing(own_cluster: ClusterTopology,
                                                     hosts: Sites, zero_site: Site,
                                                     tmp_path: Path) -> None:
    """A crawl of 8 partitions over 3 masters, 2 nodes, 9 hosts: mid-crawl, the slots of
    partition 0 (seeds, items, the nodes' table, a host's queue) and of the two other
    partitions holding the most work move to another master, one after the other, while
    the nodes push, pop, acknowledge and read every partition's counts."""
    sites = Sites([*hosts.sites, zero_site])
    parts = [KEYS.in_partition(p) for p in range(PARTITIONS)]
    url = own_cluster.url
    reader = redis.RedisCluster(host="127.0.0.1", port=own_cluster.masters()[0])

    def work(p: int) -> int:
        """Requests partition ``p`` holds queued or leased."""
        return int(reader.hget(parts[p].stats, "queued") or 0) + int(reader.hlen(parts[p].leased))

    def busy() -> list[int]:
        """Partition 0 and the two others with the most work, once each holds some and a
        quarter of the pages is stored ([] until then)."""
        if int(reader.xlen(KEYS.items)) <= sites.pages // 4:
            return []
        chosen = [0, *sorted(range(1, PARTITIONS), key=work, reverse=True)[:2]]
        return chosen if all(work(p) for p in chosen) else []

    seeded = run_scrapy(url, "seed", "site", "-", stdin=sites.seeds)
    assert seeded.returncode == 0, seeded.stderr
    nodes = [start_node(url, tmp_path / f"node{i}.log", SCHEDULER_PARTITIONS=str(PARTITIONS))
             for i in range(2)]
    moving: list[int] = []

    def chosen() -> bool:
        moving[:] = busy()
        return bool(moving)

    try:
        wait_until(chosen)
    finally:
        reader.close()
    moved = {}
    for p in moving:
        slot = key_slot(parts[p].stats.encode())
        source = own_cluster.owner(slot)
        target = next(port for port in own_cluster.masters() if port != source)
        own_cluster.move_slot(slot, target, until_met=True)
        moved[slot] = (source, target)
    assert wait_all(nodes) == [0, 0]
    assert export_pages(url, tmp_path) == sites.expected()
    for slot, (source, target) in moved.items():
        assert own_cluster.owner(slot) == target
        with client_at(source) as old:
            assert old.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) == 0
