"""A crawl of 8 partitions on one real Redis: each domain's work in its partition, every
entry handed out once, acknowledgements only once the children are saved, leases taken back
and reclaimed in every partition, and no end while a partition holds work."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import logging
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis
import redis.asyncio

from crawler.frontier import lease_ids
from crawler.frontier.exchange import Frontier
from crawler.frontier.fingerprints import describe
from crawler.frontier.formats import Entry
from crawler.frontier.limits import DomainLimits, Politeness
from crawler.frontier.partitions import partition_of
from crawler.frontier.round import ClusterView, Incoming, Outgoing, Push
from crawler.node.leases import LeaseBook
from crawler.node.membership import crawl_finished
from crawler.node.outbox import Outbox
from crawler.node.pacing import PacedRequests
from crawler.redis import connection
from crawler.redis.durability import NotDurableError
from crawler.redis.keys import CrawlKeys
from tests.contract.test_redis_topologies import config
from tests.helpers import queued
from tests.redis_topologies import ClusterTopology, client_at

KEYS = CrawlKeys("crawl", "p")
P = 8
DOMAINS = [f"host{i}.example" for i in range(24)]
UNLIMITED = Politeness(DomainLimits(0, 0.0))
EXACT = describe("exact", 16, 0, 0)


def push(url: str, domain: str) -> Push:
    return Push(hashlib.sha1(url.encode()).digest(), 0, domain, url.encode())


def site(pages: int) -> list[Push]:
    return [push(f"http://{d}/{i}", d) for d in DOMAINS for i in range(pages)]


def opened(client: redis.asyncio.Redis, node: str = "n1", lease: float = 60,
           partitions: int = P) -> Frontier:
    return Frontier(client, KEYS, "priority", node, lease, max_attempts=3,
                    politeness=UNLIMITED, partitions=partitions)


def run(redis_url: str, body: Callable[..., Awaitable[Any]], **options: Any) -> Any:
    async def main() -> Any:
        client = redis.asyncio.Redis.from_url(redis_url)
        try:
            frontier = opened(client, **options)
            await frontier.open(EXACT)
            return await body(frontier)
        finally:
            await client.aclose()
    return asyncio.run(main())


async def drain(f: Frontier, want: int = 64) -> list[Entry]:
    """Pop until nothing is handed out for a while (backed-off partitions come back)."""
    popped: list[Entry] = []
    empty = 0
    while empty < 40:
        got = (await f.exchange(Outgoing(pop=want))).popped
        popped += got
        empty = 0 if got else empty + 1
        if not got:
            await asyncio.sleep(0.05)
    return popped


def test_the_count_is_recorded_and_the_first_node_wins(
        redis_url: str, client: redis.Redis, caplog: pytest.LogCaptureFixture) -> None:
    async def body(f: Frontier) -> tuple[int, int, int]:
        later, default = opened(f.client, "n2", partitions=2), opened(f.client, "n3", partitions=0)
        await later.open(EXACT)
        await default.open(EXACT)
        return f.partitions, later.partitions, default.partitions
    with caplog.at_level(logging.INFO, logger="crawler.frontier.opening"):
        assert run(redis_url, body) == (P, P, P)
    assert client.hget(KEYS.seen_meta, "partitions") == b"8"
    said = [r.getMessage() for r in caplog.records if "partitions it began with" in r.getMessage()]
    assert said == ["Crawl 'p' keeps the 8 partitions it began with (SCHEDULER_PARTITIONS=2 "
                    "here)"]


def test_a_crawl_an_earlier_version_began_keeps_one_partition(redis_url: str,
                                                               client: redis.Redis) -> None:
    client.hset(KEYS.seen_meta, "layout", EXACT)  # recorded by every version, no count

    async def body(f: Frontier) -> int:
        return f.partitions
    assert run(redis_url, body) == 1
    assert client.hget(KEYS.seen_meta, "partitions") == b"1"


def test_pushes_land_in_their_domains_partitions_and_duplicates_are_caught(
        redis_url: str, client: redis.Redis) -> None:
    async def body(f: Frontier) -> tuple[int, int, int, int]:
        first = await f.exchange(Outgoing(pushes=site(5)))
        again = await f.exchange(Outgoing(pushes=site(6)))
        return first.added, first.duplicates, again.added, again.duplicates
    assert run(redis_url, body) == (120, 0, 24, 120)
    for p in range(P):
        keys = KEYS.in_partition(p)
        mine = {d for d in DOMAINS if partition_of(d, P) == p}
        assert {d.decode() for d in client.zrangebyscore(keys.domains, "-inf", "(inf")} == mine
        assert queued(client, keys) == 6 * len(mine)
        assert int(client.hget(keys.stats, "enqueued") or 0) == 6 * len(mine)
    assert len({partition_of(d, P) for d in DOMAINS}) > 4, "too few partitions to test"


def test_pops_across_partitions_hand_out_everything_once(redis_url: str) -> None:
    async def body(f: Frontier) -> list[Entry]:
        await f.exchange(Outgoing(pushes=site(10)))
        popped = await drain(f)
        acked = await f.exchange(Outgoing(acks=[e.id for e in popped]))
        assert acked.acked == len(popped) and acked.acks_saved
        return popped
    popped = run(redis_url, body)
    assert sorted(e.payload for e in popped) == sorted(p.payload for p in site(10))
    for entry in popped:
        assert lease_ids.split(entry.id)[0] == partition_of(entry.domain, P)


def book_with(done: list[str]) -> LeaseBook:
    book = LeaseBook(PacedRequests(lambda: None, lambda _: None, lambda _d, _r: True),
                     lambda _entry: None)
    book.done += done
    return book


async def round_of(f: Frontier, outbox: Outbox) -> Incoming:
    """One round as the exchange loop runs it."""
    sent = outbox.plan(pop=0, heartbeat=None)
    got = await f.exchange(sent.out)
    outbox.forget_saved(sent, got)
    if got.error is None:
        outbox.forget_sent(sent, 0.0)
    return got


def leased_ids(client: redis.Redis) -> set[str]:
    return {lease_ids.tagged(p, i.decode()) for p in range(P)
            for i in client.hkeys(KEYS.in_partition(p).leased)}


def test_a_parent_is_acknowledged_only_after_its_children_are_saved_everywhere(
        redis_url: str, client: redis.Redis) -> None:
    async def body(f: Frontier) -> None:
        await f.exchange(Outgoing(pushes=[push("http://host0.example/parent", "host0.example")]))
        (parent,) = await drain(f)
        outbox = Outbox(book_with([parent.id]), f.batch_size, 60, f.partitions)
        outbox.pushes += site(2)
        first = await round_of(f, outbox)
        assert first.added == 48 and first.acked == 0  # the ack waits for the next round
        assert parent.id in leased_ids(client)
        second = await round_of(f, outbox)
        assert second.acked == 1 and not outbox.unsaved()
        assert leased_ids(client) == set()
    run(redis_url, body)


def test_a_failed_script_in_one_partition_leaves_the_parent_unacknowledged(
        redis_url: str, client: redis.Redis) -> None:
    broken = partition_of(DOMAINS[1], P)

    async def body(f: Frontier) -> list[Entry]:
        await f.exchange(Outgoing(pushes=[push("http://host0.example/parent", "host0.example")]))
        (parent,) = await drain(f)
        await f.client.hset(KEYS.in_partition(broken).sequence, "not", "a counter")
        outbox = Outbox(book_with([parent.id]), f.batch_size, 60, f.partitions)
        outbox.pushes += site(2)
        for _ in range(3):
            got = await round_of(f, outbox)
            assert got.error is not None and got.acked == 0
        assert parent.id in leased_ids(client), "the parent was acknowledged"
        assert outbox.book.done == [parent.id] and outbox.book.done_saved == []
        assert {p.domain for p in outbox.pushes} == {
            d for d in DOMAINS if partition_of(d, P) == broken}
        await f.client.delete(KEYS.in_partition(broken).sequence)
        while outbox.unsaved():
            assert (await round_of(f, outbox)).error is None
        assert leased_ids(client) == set()
        return await drain(f)
    popped = run(redis_url, body)
    assert sorted(e.payload for e in popped) == sorted(p.payload for p in site(2))


def test_a_restarted_node_takes_back_its_leases_in_every_partition(redis_url: str,
                                                                    client: redis.Redis) -> None:
    async def body(f: Frontier) -> int:
        await f.exchange(Outgoing(pushes=site(3)))
        popped = await drain(f)
        assert len({lease_ids.split(e.id)[0] for e in popped}) == len(
            {partition_of(d, P) for d in DOMAINS})
        again = opened(f.client)  # the same node id, restarted
        await again.open(EXACT)
        return await again.take_back_own_leases()
    assert run(redis_url, body) == 72
    assert leased_ids(client) == set()
    assert sum(queued(client, k) for k in KEYS.every_partition(P)) == 72


def test_expired_leases_are_reclaimed_in_every_partition_within_eight_heartbeats(
        redis_url: str, client: redis.Redis) -> None:
    async def body(f: Frontier) -> int:
        await f.exchange(Outgoing(pushes=site(3)))
        assert len(await drain(f)) == 72
        await asyncio.sleep(1.2)  # the leases (1 s) expire
        other = opened(f.client, "n2")
        await other.open(EXACT)
        reclaimed = 0
        for _ in range(P):  # a heartbeat reclaims in one partition of 8
            got = await other.exchange(Outgoing(heartbeat={"idle_for": -1}, reclaim=True))
            assert got.error is None, got.error
            reclaimed += got.reclaimed
        return reclaimed
    assert run(redis_url, body, lease=1) == 72
    assert leased_ids(client) == set()


def test_the_crawl_does_not_end_while_a_partition_holds_work(redis_url: str) -> None:
    idle = {"idle_for": 100.0}
    elsewhere = next(d for d in DOMAINS if partition_of(d, P) != 0)

    async def beat(f: Frontier) -> ClusterView:
        got = await f.exchange(Outgoing(heartbeat=idle))
        assert got.cluster is not None and got.error is None
        return got.cluster

    async def body(f: Frontier) -> list[bool]:
        await f.exchange(Outgoing(pushes=[push(f"http://{elsewhere}/x", elsewhere)]))
        ends = []
        first = await beat(f)
        second = await beat(f)
        assert (second.queued, second.enqueued) == (1, 1)
        ends.append(crawl_finished(second, 2.0, first))
        (entry,) = await drain(f)
        third = await beat(f)
        ends.append(crawl_finished(third, 2.0, second))  # leased
        await f.exchange(Outgoing(acks=[entry.id]))
        fourth = await beat(f)
        ends.append(crawl_finished(fourth, 2.0, third))  # one empty read
        fifth = await beat(f)
        ends.append(crawl_finished(fifth, 2.0, fourth))
        return ends
    assert run(redis_url, body, partitions=P) == [False, False, False, True]


def test_pushes_count_as_saved_only_once_every_master_that_saved_some_has_replicated(
        cluster_url: str, redis_cluster: ClusterTopology) -> None:
    """A round's pushes on two masters: one's replica is stopped, so its WAIT comes back
    short. The round is not saved (the node keeps it all and sends it again), although the
    other master's replica has its part and partition 0's master was never written to."""
    home = redis_cluster.master_of(KEYS.stats)

    def master_of(domain: str) -> int:
        return redis_cluster.master_of(KEYS.in_partition(partition_of(domain, 64)).stats)
    by_master: dict[int, str] = {}
    for domain in (f"host{i}.example" for i in range(200)):
        if master_of(domain) != home:
            by_master.setdefault(master_of(domain), domain)
    lagging, domains = max(by_master), list(by_master.values())
    assert len(domains) == 2, "the test needs the two masters that do not hold {site}"
    replica = redis_cluster.replica_of(lagging)

    async def main() -> tuple[Incoming, Incoming]:
        client = await connection.async_client(config(cluster_url), cluster_url)
        try:
            f = Frontier(client, KEYS, "priority", "n1", 60, 3, politeness=UNLIMITED)
            await f.open(EXACT)
            assert f.partitions == 64
            pushes = [push(f"http://{d}/{i}", d) for d in domains for i in range(3)]
            redis_cluster.servers.pause(replica)
            try:
                refused = await f.exchange(Outgoing(pushes=pushes))
            finally:
                redis_cluster.servers.resume(replica)
            return refused, await f.exchange(Outgoing(pushes=pushes))
        finally:
            await client.aclose()
    refused, again = asyncio.run(main())
    assert refused.saved == [] and isinstance(refused.error, NotDurableError), refused
    assert "a write reached 0 of the 1 replicas" in str(refused.error)
    assert again.error is None and sorted(i for s in again.saved for i in s) == list(range(6))
    assert (again.added, again.duplicates) == (0, 6)  # the first round's writes had landed


def test_after_one_master_lost_its_scripts_only_its_calls_go_again(
        cluster_url: str, redis_cluster: ClusterTopology) -> None:
    """A round's calls on the other masters ran: sent again, a pop would lease a second
    batch the node never sees (each counted as a failed attempt when it expires) and a push
    would count its own requests as duplicates."""
    pushes = [push(f"http://{d}/{i}", d) for d in DOMAINS for i in range(50)]

    async def main() -> tuple[Incoming, Incoming, int]:
        client = await connection.async_client(config(cluster_url), cluster_url)
        try:
            f = Frontier(client, KEYS, "priority", "n1", 60, 3, politeness=UNLIMITED)
            await f.open(EXACT)
            assert f.partitions == 64
            flush = redis_cluster.masters()[1]
            with client_at(flush) as node:
                node.script_flush()
            saved = await f.exchange(Outgoing(pushes=pushes))
            with client_at(flush) as node:
                node.script_flush()
            popped = await f.exchange(Outgoing(pop=len(pushes)))
            leased = sum([await client.hlen(keys.leased) for keys in f.parts])
            return saved, popped, leased
        finally:
            await connection.close_async_clients()
    with warnings.catch_warnings():
        # redis-py's cluster client drops a replica's ClusterNode unclosed after the
        # scripts are loaded again; collected later, it would fail another test
        warnings.simplefilter("ignore", ResourceWarning)
        saved, popped, leased = asyncio.run(main())
        gc.collect()
    assert (saved.error, saved.added, saved.duplicates) == (None, len(pushes), 0)
    assert popped.error is None and popped.popped
    assert leased == len(popped.popped), "entries leased that the node was not given"
