"""The frontier's contract, run against a real Redis for every queue order."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import math
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis
import redis.asyncio
from scrapy.settings import Settings

from crawler.frontier.exchange import Frontier
from crawler.frontier.fingerprints import BloomLayout, ExactLayout, describe
from crawler.frontier.formats import KIND_REQUEST, KIND_SEED, Entry
from crawler.frontier.limits import DomainLimits, Politeness
from crawler.frontier.round import Outgoing, Push
from crawler.node.config import FrontierConfig
from crawler.ops.status_model import crawl_status
from crawler.redis.keys import CrawlKeys
from tests.helpers import queued

KEYS = CrawlKeys("crawl", "t")
DOMAIN = "t.example"
UNLIMITED = Politeness(DomainLimits(0, 0.0))


def fp(url: str) -> bytes:
    return hashlib.sha1(url.encode()).digest()


def push(url: str, priority: int = 0, dont_filter: bool = False, domain: str = DOMAIN) -> Push:
    return Push(fp(url), priority, domain, url.encode(), dont_filter)


def urls(entries: list[Entry]) -> list[str]:
    return [e.payload.decode() for e in entries]


EXACT = describe("exact", 16, 0, 0)
BLOOM = describe("bloom", 0, 100_000, 32)
STORES = pytest.mark.parametrize("layout", [EXACT, BLOOM], ids=["exact", "bloom"])


def run(redis_url: str, body: Callable[..., Awaitable[Any]], order: str = "priority",
        node: str = "n1", lease: float = 60, layout: str = EXACT,
        politeness: Politeness = UNLIMITED, batch_size: int = 500) -> Any:
    async def main() -> Any:
        client = redis.asyncio.Redis.from_url(redis_url)
        try:
            frontier = Frontier(client, KEYS, order, node, lease, max_attempts=3,
                                politeness=politeness, batch_size=batch_size)
            await frontier.open(layout)
            return await body(frontier)
        finally:
            await client.aclose()
    return asyncio.run(main())


@STORES
def test_duplicates_are_dropped_in_a_batch_and_across_batches(redis_url: str,
                                                              layout: str) -> None:
    async def body(f: Frontier) -> tuple[int, int, int, int]:
        a = await f.exchange(Outgoing(pushes=[push("u1"), push("u2"), push("u1")]))
        b = await f.exchange(Outgoing(pushes=[push("u2"), push("u3")]))
        return a.added, a.duplicates, b.added, b.duplicates
    assert run(redis_url, body, layout=layout) == (2, 1, 1, 1)


@STORES
def test_dont_filter_requests_are_never_merged(redis_url: str, layout: str) -> None:
    async def body(f: Frontier) -> list[str]:
        await f.exchange(Outgoing(pushes=[push("u", dont_filter=True)] * 3))
        await f.exchange(Outgoing(pushes=[push("u")]))  # recorded: a filtered copy is a dup
        return urls((await f.exchange(Outgoing(pop=10))).popped)
    assert run(redis_url, body, layout=layout) == ["u", "u", "u"]


def test_a_round_bigger_than_the_batch_size_goes_in_several_scripts(redis_url: str) -> None:
    async def body(f: Frontier) -> tuple[int, int, int, int]:
        await f.exchange(Outgoing(pushes=[push("parent")]))
        (parent,) = (await f.exchange(Outgoing(pop=1))).popped
        children = [push(f"c{i}") for i in range(10)] + [push("c0")]
        got = await f.exchange(Outgoing(pushes=children, acks=[parent.id]))
        popped = (await f.exchange(Outgoing(pop=20))).popped
        return got.added, got.duplicates, got.acked, len(popped)
    assert run(redis_url, body, batch_size=3) == (10, 1, 1, 10)


def test_batches_past_a_scripts_unpack_limit_lose_nothing(redis_url: str,
                                                          client: redis.Redis) -> None:
    """Lua's unpack takes 8,000 values at most: 4,500 requests (9,000 values) in one
    script are queued, leased and acknowledged in several commands (lib.lua)."""
    async def body(f: Frontier) -> tuple[int, int, int]:
        added = (await f.exchange(Outgoing(pushes=[push(f"u{i}") for i in range(4500)]))).added
        popped = (await f.exchange(Outgoing(pop=4500))).popped
        acked = (await f.exchange(Outgoing(acks=[e.id for e in popped]))).acked
        return added, len({e.payload for e in popped}), acked
    assert run(redis_url, body, batch_size=5000) == (4500, 4500, 4500)
    assert client.hlen(KEYS.leased) == 0 and client.zcount(KEYS.deadlines, "-inf", "(inf") == 0


@pytest.mark.parametrize(("order", "expected"), [
    ("priority", ["high1", "high2", "low1", "low2"]),
    ("fifo", ["low1", "high1", "low2", "high2"]),
    ("lifo", ["high2", "low2", "high1", "low1"]),
])
def test_pop_order(redis_url: str, order: str, expected: list[str]) -> None:
    async def body(f: Frontier) -> list[str]:
        await f.exchange(Outgoing(pushes=[push("low1", 0), push("high1", 5)]))
        await f.exchange(Outgoing(pushes=[push("low2", 0), push("high2", 5)]))
        first = (await f.exchange(Outgoing(pop=1))).popped
        rest = (await f.exchange(Outgoing(pop=10))).popped
        return urls(first + rest)
    assert run(redis_url, body, order=order) == expected


def test_popped_entries_are_leased_until_acked_by_their_node(redis_url: str,
                                                            client: redis.Redis) -> None:
    async def pop(f: Frontier) -> list[str]:
        await f.exchange(Outgoing(pushes=[push("a"), push("b")]))
        return [e.id for e in (await f.exchange(Outgoing(pop=2))).popped]
    ids = run(redis_url, pop, node="n1")
    assert client.hlen(KEYS.leased) == 2 and queued(client, KEYS, DOMAIN) == 0

    async def ack(f: Frontier) -> int:
        return (await f.exchange(Outgoing(acks=ids))).acked
    assert run(redis_url, ack, node="n2") == 0, "another node acknowledged n1's lease"
    assert run(redis_url, ack, node="n1") == 2
    assert client.hlen(KEYS.leased) == 0 and client.zcount(KEYS.deadlines, "-inf", "(inf") == 0


def test_released_entries_come_back_in_their_place(redis_url: str) -> None:
    async def body(f: Frontier) -> list[str]:
        await f.exchange(Outgoing(pushes=[push("a", 1), push("b", 0)]))
        taken = (await f.exchange(Outgoing(pop=1))).popped
        await f.exchange(Outgoing(pushes=[push("c", 0)], release=[e.id for e in taken]))
        return urls((await f.exchange(Outgoing(pop=10))).popped)
    assert run(redis_url, body) == ["a", "b", "c"]


def test_expired_leases_are_reclaimed_by_any_node(redis_url: str, client: redis.Redis) -> None:
    async def lease_short(f: Frontier) -> None:
        await f.exchange(Outgoing(pushes=[push("a"), push("b")], pop=2))
    run(redis_url, lease_short, node="dead", lease=0.2)
    asyncio.run(asyncio.sleep(0.3))

    async def reclaim(f: Frontier) -> tuple[int, list[str], list[str]]:
        got = await f.exchange(Outgoing(reclaim=True, pop=10))
        second = await f.exchange(Outgoing(pop=10))
        return got.reclaimed, urls(got.popped), urls(second.popped)
    # Entries that failed once travel together: a killed node's work is back at once.
    assert run(redis_url, reclaim, node="alive") == (2, ["a", "b"], [])
    assert client.hget(KEYS.stats, "reclaimed") == b"2"


async def fail_twice(f: Frontier, n: int) -> None:
    """Pop ``n`` entries and fail each twice (they become entries that travel alone)."""
    for _ in range(2):
        ids = [e.id for e in (await f.exchange(Outgoing(pop=n))).popped]
        await f.exchange(Outgoing(failed=[(i, "crash") for i in ids]))


def test_an_entry_failed_twice_shares_its_batch_with_fresh_ones_only(redis_url: str) -> None:
    async def body(f: Frontier) -> list[list[str]]:
        await f.exchange(Outgoing(pushes=[push("x"), push("y")]))
        await fail_twice(f, 2)
        await f.exchange(Outgoing(pushes=[push(f"fresh{i}") for i in range(1, 5)]))
        return [urls((await f.exchange(Outgoing(pop=3))).popped) for _ in range(3)]
    # Each batch holds one of them, filled up past the other with fresh entries.
    assert run(redis_url, body) == [["x", "fresh1", "fresh2"], ["y", "fresh3", "fresh4"], []]


def test_a_node_holding_a_suspect_gets_no_other(redis_url: str) -> None:
    async def body(f: Frontier) -> tuple[list[str], str | None, list[str], str | None]:
        await f.exchange(Outgoing(pushes=[push("x")]))
        await fail_twice(f, 1)
        await f.exchange(Outgoing(pushes=[push("fresh")]))
        held = await f.exchange(Outgoing(pop=5, suspects_ok=False))
        free = await f.exchange(Outgoing(pop=5))
        return urls(held.popped), held.suspect, urls(free.popped), free.suspect
    fresh, none, retried, suspect = run(redis_url, body)
    assert (fresh, none, retried) == (["fresh"], None, ["x"])
    assert suspect is not None


def test_a_killed_nodes_leases_drain_at_the_clusters_speed(redis_url: str) -> None:
    async def die(f: Frontier) -> None:
        await f.exchange(Outgoing(pushes=[push(f"https://d{i % 4}/{i}") for i in range(64)],
                                  pop=64))
    run(redis_url, die, node="dead", lease=0.2)
    asyncio.run(asyncio.sleep(0.3))

    async def reclaim(f: Frontier) -> tuple[int, int]:
        got = await f.exchange(Outgoing(reclaim=True, pop=64))
        return got.reclaimed, len(got.popped)
    # All 64 come back in the one batch after the reclaim, whatever their domains.
    assert run(redis_url, reclaim, node="alive") == (64, 64)


def test_renewed_leases_are_not_reclaimed(redis_url: str) -> None:
    async def body(f: Frontier) -> int:
        await f.exchange(Outgoing(pushes=[push("a")]))
        ids = [e.id for e in (await f.exchange(Outgoing(pop=1))).popped]
        await asyncio.sleep(0.6)
        await f.exchange(Outgoing(renew=ids))
        await asyncio.sleep(0.6)
        return (await f.exchange(Outgoing(reclaim=True))).reclaimed
    assert run(redis_url, body, lease=1.0) == 0


@STORES
def test_state_survives_close_and_reopen(redis_url: str, layout: str) -> None:
    async def fill(f: Frontier) -> None:
        await f.exchange(Outgoing(pushes=[push("a"), push("b")]))
    run(redis_url, fill, layout=layout)

    async def reopen(f: Frontier) -> tuple[int, list[str]]:
        dup = await f.exchange(Outgoing(pushes=[push("a")]))
        return dup.duplicates, urls((await f.exchange(Outgoing(pop=10))).popped)
    assert run(redis_url, reopen, layout=layout) == (1, ["a", "b"])


def test_seeds_top_up_a_short_queue(redis_url: str, client: redis.Redis) -> None:
    client.rpush(KEYS.start_urls, "https://s1", '{"url": "https://s2"}')

    async def body(f: Frontier) -> list[Entry]:
        await f.exchange(Outgoing(pushes=[push("q")]))
        return (await f.exchange(Outgoing(pop=5))).popped
    popped = run(redis_url, body)
    assert [e.kind for e in popped] == [KIND_REQUEST, KIND_SEED, KIND_SEED]
    assert urls(popped)[1:] == ["https://s1", '{"url": "https://s2"}']
    assert client.llen(KEYS.start_urls) == 0 and client.hlen(KEYS.leased) == 3


def test_the_fingerprint_layout_of_a_crawl_is_kept(redis_url: str) -> None:
    async def layout_of(f: Frontier) -> object:
        return f.layout
    run(redis_url, layout_of, layout=EXACT)
    assert run(redis_url, layout_of, layout=BLOOM) == ExactLayout(KEYS, 16)


def test_bloom_positions_match_the_push_script(redis_url: str, client: redis.Redis) -> None:
    async def body(f: Frontier) -> None:
        await f.exchange(Outgoing(pushes=[push(f"u{i}") for i in range(50)]))
    run(redis_url, body, layout=BLOOM)
    bloom = BloomLayout(KEYS, 100_000, 32)
    assert bloom.hashes == 22
    assert bloom.known(client, [fp(f"u{i}") for i in range(50)]) == [True] * 50
    assert bloom.known(client, [fp(f"new{i}") for i in range(50)]) == [False] * 50


def test_a_lost_script_cache_is_reloaded(redis_url: str, client: redis.Redis) -> None:
    async def body(f: Frontier) -> int:
        client.script_flush()
        return (await f.exchange(Outgoing(pushes=[push("a")]))).added
    assert run(redis_url, body) == 1


def test_an_entry_that_keeps_failing_becomes_a_dead_letter_with_its_history(
        redis_url: str, client: redis.Redis) -> None:
    async def body(f: Frontier) -> list[tuple[int, int]]:
        await f.exchange(Outgoing(pushes=[push("poison"), push("fine")]))
        rounds = []
        for attempt in range(3):
            popped = (await f.exchange(Outgoing(pop=10))).popped
            by_url = {e.payload: e.id for e in popped}
            got = await f.exchange(Outgoing(
                failed=[(by_url[b"poison"], f"ValueError: try {attempt}")],
                release=[by_url[b"fine"]]))
            rounds.append((len(popped), got.poisoned))
        return rounds
    assert run(redis_url, body) == [(2, 0), (2, 0), (2, 1)]
    assert queued(client, KEYS, DOMAIN) == 1 and client.hlen(KEYS.leased) == 0
    (letter,) = [json.loads(d) for d in client.lrange(KEYS.dead, 0, -1)]
    assert letter["entry"] == f"q{DOMAIN} poison"
    assert letter["reason"] == "poison: failed 3 times, last: ValueError: try 2"
    assert [h["reason"] for h in letter["history"]] == [f"ValueError: try {i}" for i in range(3)]
    assert client.hlen(KEYS.attempts) == 0


def test_ack_forgets_earlier_failed_attempts(redis_url: str, client: redis.Redis) -> None:
    async def body(f: Frontier) -> None:
        await f.exchange(Outgoing(pushes=[push("flaky")]))
        (entry,) = (await f.exchange(Outgoing(pop=1))).popped
        await f.exchange(Outgoing(failed=[(entry.id, "timeout")]))
        (entry,) = (await f.exchange(Outgoing(pop=1))).popped
        await f.exchange(Outgoing(acks=[entry.id]))
    run(redis_url, body)
    assert client.hlen(KEYS.attempts) == 0 and client.llen(KEYS.dead) == 0


def test_acks_in_a_pop_free_the_slots_it_takes(redis_url: str, client: redis.Redis) -> None:
    # A round with nothing to save acknowledges in its pop, before it pops: the domain's
    # slots the acks free are taken in the same script. Only the holder's acks count.
    polite = limited(concurrency=2)

    async def fill_and_pop(f: Frontier) -> list[str]:
        await f.exchange(Outgoing(pushes=[push(f"u{i}") for i in range(5)]))
        return [e.id for e in (await f.exchange(Outgoing(pop=5))).popped]
    held = run(redis_url, fill_and_pop, node="n1", politeness=polite)

    async def ack_and_pop(f: Frontier) -> tuple[int, int, bool]:
        got = await f.exchange(Outgoing(acks=held, pop=5))
        return got.acked, len(got.popped), got.acks_saved
    assert run(redis_url, ack_and_pop, node="n2", politeness=polite) == (0, 0, True)
    assert run(redis_url, ack_and_pop, node="n1", politeness=polite) == (2, 2, True)
    assert client.hget(KEYS.stats, "done") == b"2" and client.hlen(KEYS.leased) == 2
    assert queued(client, KEYS, DOMAIN) == 1


def test_a_node_silent_for_an_hour_is_forgotten(redis_url: str, client: redis.Redis) -> None:
    client.hset(KEYS.nodes, mapping={"gone": json.dumps({"beat": 1.0}),
                                     "recent": json.dumps({"beat": 1e12})})

    async def body(f: Frontier) -> None:
        await f.exchange(Outgoing(heartbeat={"idle_for": -1}))
    run(redis_url, body, node="n1")  # (an earlier version's states: indexed, then pruned)
    assert set(client.hkeys(KEYS.nodes)) == {b"recent", b"n1"}
    assert set(client.zrange(KEYS.beats, 0, -1)) == {b"recent", b"n1"}


def limited(concurrency: int = 0, interval: float = 0.0, robots: bool = False,
            **overrides: DomainLimits) -> Politeness:
    return Politeness(DomainLimits(concurrency, interval), tuple(overrides.items()), robots)


def test_a_domain_never_has_more_in_flight_than_its_cap_across_nodes(
        redis_url: str, client: redis.Redis) -> None:
    polite = limited(concurrency=3)

    async def fill_and_pop(f: Frontier) -> list[str]:
        await f.exchange(Outgoing(pushes=[push(f"u{i}") for i in range(10)]))
        return [e.id for e in (await f.exchange(Outgoing(pop=10))).popped]
    taken = run(redis_url, fill_and_pop, node="n1", politeness=polite)

    async def pop(f: Frontier) -> int:
        return len((await f.exchange(Outgoing(pop=10))).popped)
    assert len(taken) == 3
    assert run(redis_url, pop, node="n2", politeness=polite) == 0

    async def ack_one(f: Frontier) -> None:
        await f.exchange(Outgoing(acks=taken[:1]))
    run(redis_url, ack_one, node="n1", politeness=polite)
    assert run(redis_url, pop, node="n2", politeness=polite) == 1
    assert client.hget(KEYS.inflight, DOMAIN) == b"3"


def test_every_way_a_lease_ends_frees_its_domain_slot(redis_url: str,
                                                      client: redis.Redis) -> None:
    async def body(f: Frontier) -> None:
        await f.exchange(Outgoing(pushes=[push(f"u{i}") for i in range(4)]))
        a, b, c, _ = [e.id for e in (await f.exchange(Outgoing(pop=4))).popped]
        await f.exchange(Outgoing(acks=[a], release=[b], failed=[(c, "boom")]))
    run(redis_url, body, lease=0.3, politeness=limited(concurrency=4))
    assert client.hget(KEYS.inflight, DOMAIN) == b"1"  # the fourth, leased for 0.3 s
    asyncio.run(asyncio.sleep(0.4))

    async def reclaim(f: Frontier) -> int:
        return (await f.exchange(Outgoing(reclaim=True))).reclaimed
    assert run(redis_url, reclaim, politeness=limited(concurrency=4)) == 1
    assert client.hlen(KEYS.inflight) == 0


def test_a_paced_domain_is_handed_out_one_interval_apart(redis_url: str) -> None:
    async def body(f: Frontier) -> tuple[list[float], list[float], float | None, list[float]]:
        await f.exchange(Outgoing(pushes=[push(f"u{i}") for i in range(10)]))
        first = (await f.exchange(Outgoing(pop=10))).popped
        second = await f.exchange(Outgoing(pop=10))
        await asyncio.sleep(0.5)
        third = (await f.exchange(Outgoing(pop=10))).popped
        return ([e.hold for e in first], [e.hold for e in second.popped], second.next_ready,
                [e.hold for e in third])
    first, second, next_ready, third = run(redis_url, body, politeness=limited(interval=0.2))
    # Handed out up to HAND_OUT_AHEAD (0.5 s) early, each to be held until its time:
    # the third pop's first is due 0.6 s after the first pop's (less the time passed).
    assert first == pytest.approx([0.0, 0.2, 0.4], abs=0.002)
    assert second == [] and next_ready is not None and 0 < next_ready <= 0.101
    assert len(third) == 3 and 0 <= third[0] <= 0.101
    assert [b - a for a, b in itertools.pairwise(third)] == pytest.approx([0.2, 0.2], abs=0.002)


def test_a_drained_frontier_says_no_domain_is_queued(redis_url: str, client: redis.Redis) -> None:
    """The ready-domains set keeps a member that is no domain (lib.lua): neither a pop nor
    `scrapy status` may count it."""
    async def body(f: Frontier) -> tuple[int, float | None, float | None]:
        await f.exchange(Outgoing(pushes=[push("a"), push("b", domain="other.example")]))
        half = await f.exchange(Outgoing(pop=1))
        rest = await f.exchange(Outgoing(pop=10))
        return len(half.popped) + len(rest.popped), half.next_ready, rest.next_ready
    assert run(redis_url, body) == (2, 0.0, math.inf)
    status = crawl_status(client, KEYS, FrontierConfig.from_settings(Settings()))
    assert status["domains_queued"] == 0


def test_a_batch_is_shared_by_every_ready_domain(redis_url: str) -> None:
    async def body(f: Frontier) -> list[list[str]]:
        await f.exchange(Outgoing(pushes=[push(f"big{i}", domain="big") for i in range(100)]))
        await f.exchange(Outgoing(pushes=[push(f"{d}{i}", domain=d)
                                          for d in ("s1", "s2", "s3") for i in range(3)]))
        return [[e.domain for e in (await f.exchange(Outgoing(pop=want))).popped]
                for want in (32, 16)]
    first, then = run(redis_url, body, politeness=limited(concurrency=50))
    # At least 8 a domain (MIN_SHARE in pop.lua), the huge one no more than that while the
    # others wait; then it has the batch to itself.
    assert sorted(first) == ["big"] * 8 + ["s1"] * 3 + ["s2"] * 3 + ["s3"] * 3
    assert then == ["big"] * 16


def test_per_domain_limits_override_the_defaults(redis_url: str) -> None:
    async def body(f: Frontier) -> list[str]:
        await f.exchange(Outgoing(pushes=[push(f"{d}{i}", domain=d)
                                          for d in ("fast", "slow") for i in range(5)]))
        return [e.domain for e in (await f.exchange(Outgoing(pop=10))).popped]
    polite = limited(concurrency=0, slow=DomainLimits(1, 0.0))
    assert sorted(run(redis_url, body, politeness=polite)) == ["fast"] * 5 + ["slow"]


def test_robots_txt_unread_means_one_at_a_time_and_its_crawl_delay_paces(
        redis_url: str) -> None:
    polite = limited(concurrency=0, robots=True)

    async def body(f: Frontier) -> tuple[int, list[float]]:
        await f.exchange(Outgoing(pushes=[push(f"u{i}") for i in range(10)]))
        unread = (await f.exchange(Outgoing(pop=10))).popped
        read = await f.exchange(Outgoing(acks=[e.id for e in unread],
                                         crawl_delays={DOMAIN: 0.25}, pop=10))
        return len(unread), [e.hold for e in read.popped]
    unread, holds = run(redis_url, body, politeness=polite)
    assert unread == 1
    # Paced from the request that waited for robots.txt: it goes out when the delay is
    # reported, so the next one is due a Crawl-delay after that report.
    assert len(holds) == 2 and 0.24 <= holds[0] <= 0.251
    assert holds[1] - holds[0] == pytest.approx(0.25, abs=0.002)


def test_an_absurd_crawl_delay_holds_requests_but_breaks_nothing(redis_url: str) -> None:
    """A site's robots.txt may say anything (Crawl-delay: 1e12): the pop still answers."""
    polite = limited(concurrency=0, robots=True)

    async def body(f: Frontier) -> tuple[list[float], list[float]]:
        await f.exchange(Outgoing(pushes=[push(f"u{i}") for i in range(3)],
                                  crawl_delays={DOMAIN: 1e12}))
        popped = (await f.exchange(Outgoing(pop=10))).popped
        return [e.gap for e in popped], [e.hold for e in popped]
    gaps, holds = run(redis_url, body, politeness=polite)
    assert gaps == [1e9] and holds == [0.0]  # capped at about 31 years: never, in effect


def test_a_queue_of_an_earlier_version_is_moved_into_domain_queues(
        redis_url: str, client: redis.Redis) -> None:
    old = {b"0000000000000001r" + json.dumps({"url": u}).encode(): -i
           for i, u in enumerate(["https://A.example/1", "http://u:p@b.example:81/2",
                                  "http://[::1]:8080/3"])}
    old[b"0000000000000009rnot json"] = 5
    client.zadd(KEYS.queue, old)  # type: ignore[arg-type]

    async def body(f: Frontier) -> list[tuple[str, str]]:
        return [(e.domain, e.payload.decode()[:30]) for e in
                (await f.exchange(Outgoing(pop=10))).popped]
    popped = run(redis_url, body)
    # (garbage an earlier version could not have written is read as "<domain> <request>")
    assert sorted(d for d, _ in popped) == ["::1", "a.example", "b.example", "not"]
    assert ("not", "json") in popped
    assert client.exists(KEYS.queue) == 0 and client.hget(KEYS.stats, "queued") == b"0"
