"""What an operator sees of a crawl cut into 8 partitions (``docs/partitions.md``): status,
the dashboard's data and ``/metrics`` count every partition, ``reset`` deletes every
partition's keys and no other crawl's, on one Redis and on a 3-master cluster.

The crawl is built by a node's frontier of 8 partitions: each domain's requests in its
partition."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field

import redis
import redis.asyncio
from scrapy import Request
from scrapy.settings import Settings
from scrapy.utils.request import fingerprint

from crawler.dashboard import metrics
from crawler.dashboard.data import DashboardData
from crawler.frontier import deletion, lease_ids, partitions
from crawler.frontier.exchange import Frontier
from crawler.frontier.fingerprints import describe
from crawler.frontier.formats import Entry
from crawler.frontier.limits import DomainLimits, Politeness, domain_of
from crawler.frontier.round import Outgoing, Push
from crawler.node.config import FrontierConfig
from crawler.ops import status_model
from crawler.redis import connection
from crawler.redis.config import RedisConfig
from crawler.redis.keys import CrawlKeys
from tests.process.test_dashboard import parse_metrics
from tests.redis_topologies import ClusterTopology

KEYS = CrawlKeys("crawl", "site")
COUNT = 8
EXACT = describe("exact", 16, 0, 0)
CONFIG = FrontierConfig.from_settings(Settings())
DOMAINS = [f"d{i}.example" for i in range(12)]


def page(domain: str, i: int) -> str:
    return f"http://{domain}/p{i}"


def pages(domain: str) -> list[str]:
    """Domain ``dN.example`` has 5 + 3N pages: the partitions' queues differ."""
    return [page(domain, i) for i in range(5 + 3 * int(domain[1:].split(".")[0]))]


def push(url: str) -> Push:
    """The push a node makes for ``url``: the site spider's fingerprint and domain."""
    request = Request(url)
    return Push(fingerprint(request), 0, domain_of(request), url.encode())


@dataclass
class Built:
    """What the partitions hold once built."""

    queued: dict[int, int] = field(default_factory=dict)  # partition -> entries queued
    held: list[str] = field(default_factory=list)  # domains of the entries still leased
    dead_ids: set[str] = field(default_factory=set)
    pushed: int = 0

    @property
    def used(self) -> int:
        return len(self.queued)


def build(url: str, keys: CrawlKeys = KEYS, count: int = COUNT) -> Built:
    """A crawl of ``count`` partitions: every page of ``DOMAINS`` pushed once (and the first
    twice, a duplicate) by a node's frontier, then in each partition used 4 entries kept:
    one acknowledged, one failed (queued again), one dead-lettered, one left leased (the
    others popped are handed back); 7 items counted."""
    built = Built()
    by_partition: dict[int, list[str]] = defaultdict(list)
    for domain in DOMAINS:
        by_partition[partitions.partition_of(domain, count)].append(domain)
    assert len(by_partition) >= 4, "the domains should spread over the partitions"
    urls = [u for d in DOMAINS for u in pages(d)]

    async def main() -> None:
        client = await connection.async_client(RedisConfig.from_settings(Settings()), url)
        try:
            frontier = Frontier(client, keys, "priority", "n1", 60, max_attempts=3,
                                politeness=Politeness(DomainLimits(0, 0.0)), partitions=count)
            await frontier.open(EXACT)
            assert frontier.partitions == count
            got = await frontier.exchange(Outgoing(pushes=[push(u) for u in [*urls, urls[0]]]))
            assert (got.added, got.duplicates, got.error) == (len(urls), 1, None)
            popped: dict[int, list[Entry]] = defaultdict(list)
            for _ in range(100):  # every entry, from every partition (a walk with backoff)
                if sum(map(len, popped.values())) == len(urls):
                    break
                for entry in (await frontier.exchange(Outgoing(pop=len(urls)))).popped:
                    popped[lease_ids.split(entry.id)[0]].append(entry)
            assert sorted(popped) == sorted(by_partition)
            out = Outgoing()
            for number, entries in sorted(popped.items()):
                ack, fail, dead, held, *rest = entries
                out.acks.append(ack.id)
                out.failed.append((fail.id, "boom"))
                out.dead.append((dead, "unreadable"))
                out.release += [e.id for e in rest]
                built.queued[number] = len(entries) - 3
                built.held.append(held.domain)
                built.dead_ids.add(lease_ids.split(dead.id)[1])
            assert (await frontier.exchange(out)).error is None
            built.pushed = len(urls)
            await client.hincrby(keys.stats, "items", 7)  # as the item store counts them
            await client.xadd(keys.items, {"item": "{}"})
        finally:
            await connection.close_async_clients()
    asyncio.run(main())
    return built


def assert_totals(status: dict[str, object], built: Built) -> None:
    """The status counts what every partition holds."""
    used = built.used
    queued = [built.queued.get(p, 0) for p in range(COUNT)]
    assert status["queued"] == sum(queued)
    assert status["in_progress"] == used
    assert status["retrying"] == used
    assert status["done"] == used
    assert status["dead_letters"] == used
    assert status["domains_queued"] == len(DOMAINS)
    assert status["fingerprints"] == built.pushed
    assert status["duplicates_dropped"] == 1
    assert (status["items"], status["items_in_redis"]) == (7, 1), "items counted once"
    assert status["partitions"] == COUNT
    assert status["queued_balance"] == round(max(queued) * COUNT / sum(queued), 2)
    assert status["state"] == "stopped"


def test_status_sums_every_partition(client: redis.Redis, redis_url: str) -> None:
    built = build(redis_url)
    status = status_model.crawl_status(client, KEYS, CONFIG)
    assert_totals(status, built)
    assert sum(status["in_flight_by_domain"].values()) == min(built.used, 5)
    leases = status_model.leases_by_domain(
        client, [(KEYS.in_partition(p), 1 if p in built.queued else 0) for p in range(COUNT)])
    assert sorted(domain for domain, n in leases for _ in range(n)) == sorted(built.held)


def test_a_crawl_that_recorded_no_count_is_read_as_one_partition(
        client: redis.Redis, redis_url: str) -> None:
    """Its keys are the crawl's own, read in one round trip as before (plus the HGET of
    the count); no other partition's key is read."""
    client.hset(KEYS.stats, mapping={"queued": 3, "done": 2})
    client.config_resetstat()
    status = status_model.crawl_status(client, KEYS, CONFIG)
    assert (status["partitions"], status["queued"], status["queued_balance"]) == (1, 3, None)
    calls = client.info("commandstats")
    assert set(calls) == {f"cmdstat_{c}" for c in (
        "time", "zcount", "hlen", "type", "hgetall", "xlen", "llen", "lrange", "get", "hget",
        "config|resetstat")}, calls
    assert not list(client.scan_iter(match=KEYS.partitions_pattern))


def test_the_dashboard_and_metrics_count_every_partition(client: redis.Redis,
                                                         redis_url: str) -> None:
    built = build(redis_url)
    data = DashboardData(client, CONFIG, "here", None, lambda name: CrawlKeys("crawl", name))
    assert data.names() == ["site"], "a partition's keys are no crawl of their own"
    detail = data.detail("site")
    assert detail is not None
    assert {letter["id"] for letter in detail["dead"]} == built.dead_ids
    times = [letter["time"] for letter in detail["dead"]]
    assert times == sorted(times, reverse=True), "newest dead letter first"
    assert_totals(detail, built)
    shown = parse_metrics(metrics.render(data.statuses()))
    label = '{crawl="site"}'
    assert shown[f"crawler_queued{label}"] == sum(built.queued.values())
    assert shown[f"crawler_in_progress{label}"] == built.used
    assert shown[f"crawler_dead_letters{label}"] == built.used
    assert shown[f"crawler_requests_done_total{label}"] == built.used
    assert shown[f"crawler_items_stored_total{label}"] == 7
    assert shown[f"crawler_partitions{label}"] == COUNT


def test_a_crawl_known_only_by_its_partitions_is_found(client: redis.Redis) -> None:
    client.hset(KEYS.in_partition(3).stats, "done", 1)
    client.hset(CrawlKeys("crawl", "a/b").stats, "done", 1)
    data = DashboardData(client, CONFIG, "here", None, lambda name: CrawlKeys("crawl", name))
    assert data.names() == ["a/b", "site"]


def other_crawls(client: redis.Redis) -> set[bytes]:
    """Keys of crawls named like ``site``'s partitions, which a reset of ``site`` keeps."""
    for name in ("site2", "site/x", "sit"):
        client.hset(CrawlKeys("crawl", name).stats, "done", 1)
        client.hset(CrawlKeys("crawl", name).in_partition(1).stats, "done", 1)
    return set(client.keys())


def test_reset_deletes_every_partitions_keys_and_no_other_crawls(client: redis.Redis,
                                                                 redis_url: str) -> None:
    others = other_crawls(client)
    build(redis_url)
    own = set(client.scan_iter(match=KEYS.partitions_pattern))
    assert len({k.split(b"}")[0] for k in own}) >= 3, "keys in several partitions"
    found = deletion.crawl_keys(client, KEYS)
    assert len(found) == len(set(client.keys()) - others)
    assert deletion.delete_crawl(client, KEYS) == len(found)
    assert set(client.keys()) == others


def test_a_finished_crawl_keeps_every_partitions_stats_and_dead_letters(
        client: redis.Redis, redis_url: str) -> None:
    """``SCHEDULER_PERSIST = False``: what is kept is read as the crawl's afterwards."""
    built = build(redis_url)
    deletion.delete_crawl(client, KEYS, keep=deletion.kept_after_finish(KEYS))
    status = status_model.crawl_status(client, KEYS, CONFIG)
    assert (status["done"], status["dead_letters"]) == (built.used, built.used)
    assert (status["items"], status["partitions"]) == (7, COUNT)
    assert client.hgetall(KEYS.seen_meta) == {b"partitions": b"8"}, "the layout went"


def test_the_nodes_asyncio_deletion_keeps_the_same_keys(client: redis.Redis,
                                                        redis_url: str) -> None:
    async def delete_async() -> int:
        async with redis.asyncio.Redis.from_url(redis_url) as async_client:
            return await deletion.delete_crawl_async(async_client, KEYS,
                                                     keep=deletion.kept_after_finish(KEYS))
    build(redis_url)
    deleted = deletion.delete_crawl(client, KEYS, keep=deletion.kept_after_finish(KEYS))
    left = set(client.keys())
    client.flushall()
    build(redis_url)
    assert asyncio.run(delete_async()) == deleted
    assert set(client.keys()) == left
    assert client.hgetall(KEYS.seen_meta) == {b"partitions": b"8"}


def test_a_finished_crawl_of_one_partition_keeps_what_it_kept(client: redis.Redis) -> None:
    client.hset(KEYS.seen_meta, "layout", EXACT)
    client.hset(KEYS.stats, "done", 1)
    client.rpush(KEYS.in_partition(0).dead, "{}")
    deletion.delete_crawl(client, KEYS, keep=deletion.kept_after_finish(KEYS))
    assert sorted(client.keys()) == sorted([KEYS.dead.encode(), KEYS.stats.encode()])


def test_status_and_reset_on_a_cluster(cluster_url: str, redis_cluster: ClusterTopology) -> None:
    built = build(cluster_url)
    client = connection.sync_client(RedisConfig.from_settings(Settings()), cluster_url)
    try:
        masters = {redis_cluster.master_of(KEYS.in_partition(p).stats) for p in built.queued}
        assert len(masters) > 1, "the partitions should sit on several masters"
        assert_totals(status_model.crawl_status(client, KEYS, CONFIG), built)
        client.set(CrawlKeys("crawl", "other").stats, 1)
        assert deletion.delete_crawl(client, KEYS) > 0
        for port in redis_cluster.masters():
            with redis.Redis(port=port) as node:
                left = {k for pattern in (KEYS.pattern, KEYS.partitions_pattern)
                        for k in node.scan_iter(match=pattern)}
                assert not left, f"keys left on {port}: {left}"
        assert client.exists(CrawlKeys("crawl", "other").stats)
    finally:
        client.close()
