"""What a node's heartbeat and start-up cost stays bounded as the cluster grows: a beat
reads no other node's state, and the Bloom filter's bitmaps are never sent over the wire."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import redis
import redis.asyncio

from crawler.frontier import scripts
from crawler.frontier.exchange import Frontier
from crawler.frontier.fingerprints import BloomLayout, describe
from crawler.frontier.limits import DomainLimits, Politeness
from crawler.frontier.round import ClusterView, Outgoing
from crawler.redis.keys import CrawlKeys

KEYS = CrawlKeys("crawl", "t")
WHOLE_HASH_READS = {"hgetall", "hvals", "hkeys", "hscan"}


def with_frontiers(redis_url: str, body: Callable[..., Awaitable[Any]], nodes: list[str],
                   layout: str = describe("exact", 16, 0, 0), node_timeout: float = 10,
                   idle_timeout: float = 10) -> Any:
    """Run ``body(*frontiers)``, one opened frontier for each node id of ``nodes``."""
    async def main() -> Any:
        client = redis.asyncio.Redis.from_url(redis_url)
        try:
            frontiers = [Frontier(client, KEYS, "priority", node, 60, 3,
                                  Politeness(DomainLimits(0, 0.0)), node_timeout=node_timeout,
                                  idle_timeout=idle_timeout) for node in nodes]
            await asyncio.gather(*(f.open(layout) for f in frontiers))
            return await body(*frontiers)
        finally:
            await client.aclose()
    return asyncio.run(main())


def command_calls(client: redis.Redis) -> dict[str, int]:
    stats: dict[str, Any] = client.info("commandstats")  # type: ignore[assignment]
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


def commands_of_a_beat(redis_url: str, client: redis.Redis, nodes: int) -> dict[str, int]:
    """The commands (and their calls) of one heartbeat while ``nodes`` other live nodes
    have beaten (their states written by an earlier version, indexed by a first beat)."""
    client.flushall()
    secs, micros = client.time()
    client.hset(KEYS.nodes, mapping={f"node-{i}": json.dumps(
        {"beat": secs + micros / 1e6, "idle_for": -1, "host": "h", "pages": i})
        for i in range(nodes)})

    async def body(f: Frontier) -> dict[str, int]:
        await f.exchange(Outgoing(heartbeat={"idle_for": -1}))  # indexes the states
        client.config_resetstat()
        await f.exchange(Outgoing(heartbeat={"idle_for": -1}))
        return command_calls(client)
    return dict(with_frontiers(redis_url, body, ["me"]))


def test_a_heartbeat_reads_no_other_nodes_state(redis_url: str, client: redis.Redis) -> None:
    few = commands_of_a_beat(redis_url, client, 5)
    many = commands_of_a_beat(redis_url, client, 500)
    assert many == few, "a beat's commands depend on the number of nodes"
    assert not WHOLE_HASH_READS & set(many), many
    assert client.zcard(KEYS.beats) == client.hlen(KEYS.nodes) == 501


def beat(f: Frontier, idle_for: float) -> Awaitable[Any]:
    return f.exchange(Outgoing(heartbeat={"idle_for": idle_for}))


def test_the_crawl_ends_once_every_live_node_was_idle_long_enough(
        redis_url: str, client: redis.Redis) -> None:
    client.hset(KEYS.stats, "enqueued", 1)

    def finished(view: ClusterView | None) -> bool:
        assert view is not None
        return view.busy_until <= view.now

    async def body(a: Frontier, b: Frontier, c: Frontier) -> list[bool]:
        seen = []
        await beat(a, -1)  # busy, live for node_timeout = 0.3 s
        seen.append(finished((await beat(b, 100)).cluster))
        await asyncio.sleep(0.4)  # a is dead now
        seen.append(finished((await beat(b, 100)).cluster))
        await beat(a, 0)  # back, idle for 0 s of the 5 needed
        seen.append(finished((await beat(b, 100)).cluster))
        await beat(a, 10)
        seen.append(finished((await beat(b, 100)).cluster))
        await beat(c, -1)
        seen.append(finished((await beat(b, 100)).cluster))
        await c.leave()  # a busy node that closes holds nothing back
        seen.append(finished((await beat(b, 100)).cluster))
        return seen
    got = with_frontiers(redis_url, body, ["a", "b", "c"], node_timeout=0.3, idle_timeout=5)
    assert got == [False, True, False, True, False, True]
    assert client.zrange(KEYS.beats, 0, -1) == [b"a", b"b"]


def test_bloom_bitmaps_are_created_once_and_never_sent(redis_url: str,
                                                       client: redis.Redis) -> None:
    layout = describe("bloom", 0, 9_000_000, 32)  # 17 bitmaps of 2 MiB
    bloom = BloomLayout(KEYS, 9_000_000, 32)
    sent_before = int(client.info("stats")["total_net_input_bytes"])

    async def nothing(*frontiers: Frontier) -> None:
        return None
    with_frontiers(redis_url, nothing, ["a", "b", "c"], layout=layout)  # open at once
    sent = int(client.info("stats")["total_net_input_bytes"]) - sent_before
    sizes = {client.strlen(key) for key in bloom.bitmap_keys()}
    assert sizes == {bloom.bits_per_bitmap // 8} and len(bloom.bitmap_keys()) == 17
    loaded = 3 * sum(len(script.text) for script in scripts.ALL)  # each node loads them
    assert sent - loaded < 50_000, f"{sent} bytes sent to open a 36 MB filter three times"

    first, second = bloom.bitmap_keys()[:2]
    client.setbit(first, bloom.bits_per_bitmap - 1, 1)
    client.delete(second)
    with_frontiers(redis_url, nothing, ["d"], layout=layout)
    assert client.getbit(first, bloom.bits_per_bitmap - 1) == 1, "a bit set was cleared"
    assert client.strlen(second) == bloom.bits_per_bitmap // 8
