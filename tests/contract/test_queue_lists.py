"""The domain lists (push.lua, pop.lua, release.lua, migrate.lua) against a real Redis:
the order entries come out in, an entry that comes back keeping its id and history, an
earlier version's sorted-set queues crawled whole after an upgrade, and the counts
``scrapy status`` shows."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import pytest
import redis
from scrapy.settings import Settings

from crawler.frontier.exchange import Frontier
from crawler.frontier.formats import Entry
from crawler.frontier.round import Outgoing
from crawler.node.config import FrontierConfig
from crawler.ops.status_model import crawl_status
from tests.contract.test_frontier import EXACT, KEYS, push, run, urls
from tests.helpers import queued

A, B = "a.example", "b.example"
CONFIG = FrontierConfig.from_settings(Settings())


async def drain(f: Frontier, batch: int = 1) -> list[Entry]:
    """Pop (``batch`` at a time) and acknowledge until nothing comes."""
    taken: list[Entry] = []
    while popped := (await f.exchange(Outgoing(pop=batch))).popped:
        taken += popped
        await f.exchange(Outgoing(acks=[e.id for e in popped]))
    return taken


@pytest.mark.parametrize(("order", "expected"), [
    ("priority", ["p9-1", "p9-2", "p5-1", "p5-2", "p5-3", "p0-1", "p0-2", "n3-1"]),
    ("fifo", ["p0-1", "p5-1", "p9-1", "p5-2", "n3-1", "p0-2", "p9-2", "p5-3"]),
    ("lifo", ["p5-3", "p9-2", "p0-2", "n3-1", "p5-2", "p9-1", "p5-1", "p0-1"]),
])
@pytest.mark.parametrize("batch", [1, 8])
def test_a_domain_pops_highest_priority_first_then_first_in_or_last_in(
        redis_url: str, order: str, expected: list[str], batch: int) -> None:
    pushed = [("p0-1", 0), ("p5-1", 5), ("p9-1", 9), ("p5-2", 5), ("n3-1", -3), ("p0-2", 0),
              ("p9-2", 9), ("p5-3", 5)]

    async def body(f: Frontier) -> list[str]:
        for i in range(0, len(pushed), 3):  # over several push scripts
            await f.exchange(Outgoing(pushes=[push(u, p) for u, p in pushed[i:i + 3]]))
        return urls(await drain(f, batch))
    assert run(redis_url, body, order=order) == expected


def test_an_entry_that_comes_back_keeps_its_id_and_history_and_comes_first(
        redis_url: str, client: redis.Redis) -> None:
    async def body(f: Frontier) -> list[Entry]:
        await f.exchange(Outgoing(pushes=[push(u) for u in ("a", "b", "c", "d")]))
        first, second = (await f.exchange(Outgoing(pop=2))).popped
        await f.exchange(Outgoing(release=[second.id]))
        await f.exchange(Outgoing(failed=[(first.id, "timeout")]))  # the latest back first
        again = (await f.exchange(Outgoing(pop=2))).popped
        await f.exchange(Outgoing(failed=[(again[0].id, "timeout again")]))
        return [first, second, *again, *(await f.exchange(Outgoing(pop=10))).popped]
    first, second, a, b, *rest = run(redis_url, body)
    assert (a.id, a.payload, b.id, b.payload) == (first.id, b"a", second.id, b"b")
    assert [e.payload for e in rest] == [b"a", b"c", b"d"] and rest[0].id == first.id
    history = json.loads(client.hget(KEYS.attempts, first.id) or b"[]")
    assert [h["reason"] for h in history] == ["timeout", "timeout again"]
    assert len({first.id, second.id, *(e.id for e in rest[1:])}) == 4  # fresh ids differ


def test_an_entry_that_failed_twice_is_held_alone_from_a_list(redis_url: str) -> None:
    async def body(f: Frontier) -> tuple[list[str], list[str]]:
        await f.exchange(Outgoing(pushes=[push(u) for u in ("x", "y", "z")]))
        for reason in ("one", "two"):
            (x,) = (await f.exchange(Outgoing(pop=1))).popped
            await f.exchange(Outgoing(failed=[(x.id, reason)]))
        held = (await f.exchange(Outgoing(pop=5, suspects_ok=False))).popped
        rest = (await f.exchange(Outgoing(pop=5))).popped
        return urls(held), urls(rest)
    # x goes back to the front; a node that may not take it gets the others past it.
    assert run(redis_url, body) == (["y", "z"], ["x"])


def old_entry(seq: int, domain: str, url: str) -> bytes:
    """An entry as the version before the domain lists stored it."""
    return b"%016d" % seq + f"q{domain} ".encode() + json.dumps(
        {"url": url, "callback": "parse", "meta": {"depth": 2}}).encode()


def queue_the_old_way(client: redis.Redis, order: str) -> dict[str, int]:
    """A crawl the code before the domain lists left: per-domain sorted sets (scored by
    the order), a domain's raw seed handed back, an expired lease of a killed node, and an
    entry with a failed attempt. Returns the URLs and how often each must be fetched."""
    urls_: Counter[str] = Counter()
    seq = 0
    for domain in (A, B):
        members = {}
        for i, priority in enumerate((0, 7, 0, 7, -2)):
            seq += 1
            url = f"https://{domain}/{i}-p{priority}"
            score = {"priority": -priority, "fifo": 0, "lifo": -seq}[order]
            members[old_entry(seq, domain, url)] = score
            urls_[url] += 1
        client.zadd(KEYS.domain_queue(domain), members)  # type: ignore[arg-type]
        client.zadd(KEYS.domains, {domain: 0})
    client.zadd(KEYS.domain_queue(""), {b"%016dshttps://c.example/seed" % 99: 0})
    urls_["https://c.example/seed"] += 1
    client.zadd(KEYS.domains, {"": 0})
    failed = old_entry(3, A, "https://a.example/2-p0")  # (the same id as its queued one)
    client.hset(KEYS.attempts, "0000000000000003", json.dumps(
        [{"node": "old", "reason": "timeout", "time": 1}]))
    killed = old_entry(100, B, "https://b.example/leased")
    client.hset(KEYS.leased, "0000000000000100", b"old +0 " + killed)
    client.zadd(KEYS.deadlines, {"0000000000000100": 1})
    client.hset(KEYS.inflight, B, 1)
    urls_["https://b.example/leased"] += 1
    client.hset(KEYS.stats, mapping={"queued": 11, "enqueued": 12})
    client.set(KEYS.sequence, 100)
    assert failed in client.zrange(KEYS.domain_queue(A), 0, -1)
    return dict(urls_)


@pytest.mark.parametrize("order", ["priority", "fifo", "lifo"])
def test_a_crawl_queued_in_sorted_sets_is_crawled_whole_after_the_upgrade(
        redis_url: str, client: redis.Redis, order: str) -> None:
    expected = queue_the_old_way(client, order)

    async def body(f: Frontier) -> list[Entry]:
        await f.exchange(Outgoing(reclaim=True))
        return await drain(f, batch=3)
    taken = run(redis_url, body, order=order)
    got = Counter(json.loads(e.payload)["url"] if e.kind == b"q" else e.payload.decode()
                  for e in taken)
    assert dict(got) == expected  # each once, nothing lost
    assert all(e.domain == json.loads(e.payload)["url"].split("/")[2]
               for e in taken if e.kind == b"q")
    a_urls = [json.loads(e.payload)["url"] for e in taken if e.domain == A]
    if order == "priority":  # the leased one is back in the middle: see the next test
        assert a_urls == [f"https://a.example/{i}" for i in ("1-p7", "3-p7", "0-p0", "2-p0",
                                                             "4-p-2")]
    assert [e.id for e in taken if b"a.example/2-p0" in e.payload] == [
        "0000000000000003"]  # its id kept: its history follows it
    assert not list(client.scan_iter(KEYS.domain_queues_pattern))
    assert client.hget(KEYS.stats, "queued") == b"0" and client.hlen(KEYS.leased) == 0
    assert client.hget(KEYS.inflight, B) is None


def test_an_upgraded_crawl_keeps_its_order_and_history(redis_url: str,
                                                       client: redis.Redis) -> None:
    queue_the_old_way(client, "lifo")

    async def body(f: Frontier) -> tuple[Entry, list[Entry]]:
        popped = (await f.exchange(Outgoing(pop=20))).popped
        (newest,) = [e for e in popped if e.domain == A][:1]
        await f.exchange(Outgoing(release=[e.id for e in popped if e is not newest]))
        await f.exchange(Outgoing(failed=[(newest.id, "x")]))
        return newest, await drain(f, batch=1)
    newest, taken = run(redis_url, body, order="lifo")
    of_a = [e for e in taken if e.domain == A]
    assert b"/4-p-2" in newest.payload and of_a[0].id == newest.id  # back first, its id kept
    assert [json.loads(e.payload)["url"].rsplit("/", 1)[1] for e in of_a] == [
        "4-p-2", "3-p7", "2-p0", "1-p7", "0-p0"]  # last in, first out, as before
    assert of_a[2].id == "0000000000000003"
    assert client.hlen(KEYS.attempts) == 0  # acknowledged: their histories forgotten


def test_status_counts_what_each_domain_has_queued(redis_url: str,
                                                   client: redis.Redis) -> None:
    async def body(f: Frontier) -> None:
        await f.exchange(Outgoing(pushes=[push(f"a{i}", i % 3, domain=A) for i in range(7)]
                                  + [push(f"b{i}", 0, domain=B) for i in range(4)]))
        popped = (await f.exchange(Outgoing(pop=6))).popped
        await f.exchange(Outgoing(release=[popped[0].id], acks=[e.id for e in popped[1:]]))
    run(redis_url, body)
    status = crawl_status(client, KEYS, CONFIG)
    # The 6 all from A, the first ready (pop.lua's MIN_SHARE is 8); the first came back.
    assert (queued(client, KEYS, A), queued(client, KEYS, B)) == (2, 4)
    assert (status["queued"], status["domains_queued"], status["in_progress"]) == (6, 2, 0)

    async def rest(f: Frontier) -> int:
        return len(await drain(f, batch=4))
    assert run(redis_url, rest) == 6
    status = crawl_status(client, KEYS, CONFIG)
    assert (status["queued"], status["domains_queued"], queued(client, KEYS)) == (0, 0, 0)
    assert not list(client.scan_iter(KEYS.domain_priorities("*")))


def test_nodes_opening_together_move_each_entry_once(redis_url: str,
                                                     client: redis.Redis) -> None:
    async def body(f: Frontier) -> list[Entry]:
        client.flushdb()  # (run opened f: the crawl as the code before left it, now)
        expected.update(queue_the_old_way(client, "priority"))
        others = [Frontier(f.client, KEYS, "priority", f"n{i}", 60, max_attempts=3,
                           batch_size=2) for i in range(3)]
        await asyncio.gather(*(o.open(EXACT) for o in [f, *others]))
        await f.exchange(Outgoing(reclaim=True))
        return await drain(f, batch=50)
    expected: dict[str, int] = {}
    taken = run(redis_url, body, batch_size=2)
    assert Counter(e.payload for e in taken).most_common(1)[0][1] == 1
    assert len(taken) == sum(expected.values()) == 12
