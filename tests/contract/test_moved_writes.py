"""A round's pushes into a slot that moved to another master since the node last looked
(a reshard) are answered ``MOVED`` and sent again, by redis-py, to the new master: after
the round's ``WAIT``, which went to the old one. They must not count as saved then, or a
parent acknowledged the next round (on another master) could outlive children the new
master never replicated: a page lost when it fails."""

from __future__ import annotations

import asyncio
import time

from redis.crc import key_slot
from scrapy.settings import Settings

from crawler.frontier.exchange import Frontier
from crawler.frontier.partitions import partition_of
from crawler.frontier.round import Incoming, Outgoing, Push
from crawler.redis import connection
from crawler.redis.config import RedisConfig
from crawler.redis.durability import NotDurableError
from crawler.redis.keys import CrawlKeys
from tests.contract.test_frontier import EXACT
from tests.redis_topologies import ClusterTopology, client_at

KEYS = CrawlKeys("crawl", "site")
DOMAIN = "moved.example"


def push(number: int) -> Push:
    return Push(bytes([number]) * 20, 0, DOMAIN,
                b'{"url": "http://%s/%d"}' % (DOMAIN.encode(), number))


def lose_replica(cluster: ClusterTopology, master: int) -> None:
    """Kill ``master``'s replica and wait until the master counts none."""
    cluster.servers.kill(cluster.replica_of(master))
    deadline = time.monotonic() + 10
    with client_at(master) as node:
        while int(node.info("replication")["connected_slaves"]):
            assert time.monotonic() < deadline, "the master still counts its replica"
            time.sleep(0.05)


def test_pushes_sent_again_to_a_slots_new_master_are_not_saved_unwaited(
        own_cluster: ClusterTopology) -> None:
    url = own_cluster.url
    settings = Settings({"REDIS_URL": url, "REDIS_WAIT_STRICT": True})

    async def main() -> Incoming:
        client = await connection.async_client(RedisConfig.from_settings(settings), url)
        try:
            frontier = Frontier(client, KEYS, "priority", "n1", 60, max_attempts=3,
                                partitions=8)
            await frontier.open(EXACT)
            first = await frontier.exchange(Outgoing(pushes=[push(1)]))
            assert first.error is None and first.saved, first.error
            keys = frontier.parts[partition_of(DOMAIN, 8)]
            slot = key_slot(keys.stats.encode())
            target = next(p for p in own_cluster.masters() if p != own_cluster.owner(slot))
            own_cluster.move_slot(slot, target)  # the node's slot table still says source
            lose_replica(own_cluster, target)
            return await frontier.exchange(Outgoing(pushes=[push(2)]))
        finally:
            await connection.close_async_clients()

    got = asyncio.run(main())
    assert got.saved == [], "a push the new master never replicated counted as saved"
    assert isinstance(got.error, NotDurableError), got.error
