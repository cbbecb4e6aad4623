"""A crawl's slot moved to another master in the middle of a crawl (a reshard, as
``redis-cli --cluster reshard`` moves slots) loses no page, stores no item twice, and the
crawl ends by itself, its keys on the new master."""

from __future__ import annotations

from pathlib import Path

import redis
from redis.crc import key_slot

from tests.conftest import Site
from tests.process.test_failover import KEYS, crawl_through
from tests.redis_topologies import ClusterTopology, client_at


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
                      lambda: own_cluster.move_slot(slot, target), SCHEDULER_PARTITIONS="1")
    finally:
        reader.close()
    assert own_cluster.owner(slot) == target
    with client_at(source) as old, client_at(target) as new:
        assert old.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) == 0
        assert new.exists(KEYS.stats, KEYS.items) == 2
        redirected = old.info("errorstats")
    assert {"errorstat_TRYAGAIN", "errorstat_ASK"} & set(redirected), \
        f"the nodes never met the slot half-moved: {redirected}"
