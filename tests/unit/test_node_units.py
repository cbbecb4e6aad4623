"""Unit tests of the node in-process: the scheduler and its exchange loop, over a real Redis.

Each test runs its own asyncio loop (``asyncio.run``) with no Twisted reactor: a real
Scrapy crawler from ``get_crawler`` (the add-on on, so Scrapy picks the scheduler), whose
engine is ``FakeEngine``, a slot of requests in progress that the test fills and empties
as Scrapy's engine would. The public ``open()``/``close()`` run as they are: with a
running asyncio loop, Scrapy's ``deferred_from_coro`` wraps them in a future, awaited here
through ``maybe_deferred_to_future``. Every assertion reads Redis, not only return values.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Coroutine
from types import SimpleNamespace
from typing import Any, cast

import pytest
import redis
from scrapy import Request, Spider, signals
from scrapy.core.engine import ExecutionEngine, _Slot
from scrapy.core.scheduler import BaseScheduler
from scrapy.http import Response
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.misc import build_from_crawler, load_object
from scrapy.utils.reactor import CallLaterOnce
from scrapy.utils.test import get_crawler
from twisted.python.failure import Failure

from crawler.errors import CrawlerError
from crawler.frontier.fingerprints import BloomLayout, layout_from_json
from crawler.node.engine import EngineSlot, engine_slot
from crawler.node.scheduler import RedisScheduler
from crawler.redis import connection
from crawler.redis.keys import CrawlKeys
from tests import helpers
from tests.helpers import queue_raw

KEYS = CrawlKeys("crawl", "units")
HEARTBEAT = 0.1
DEADLINE = 5.0  # seconds a test waits for Redis to show what it expects


class UnitSpider(Spider):
    name = "units"

    def parse(self, response: Response) -> None:
        """Never called: nothing is downloaded."""


class FakeNextCall:
    """Counts the engine's wake-ups."""

    def __init__(self) -> None:
        self.wakes = 0

    def schedule(self, delay: float = 0) -> None:
        self.wakes += 1


class FakeSlot:
    """The engine's slot: the requests the engine took and has not finished."""

    def __init__(self) -> None:
        self.inprogress: set[Request] = set()
        self.nextcall = FakeNextCall()


class FakeEngine:
    """What the scheduler reads of Scrapy's engine: its ``_slot``."""

    def __init__(self) -> None:
        self._slot = FakeSlot()

    async def close_spider_async(self, reason: str = "cancelled") -> None:
        raise AssertionError(f"the node asked to close the spider ({reason})")


class Node:
    """A scheduler opened on a crawler whose engine is fake; the test plays the engine."""

    def __init__(self, redis_url: str, **settings: Any) -> None:
        self.crawler = get_crawler(UnitSpider, {
            "ADDONS": {"crawler.addon.RedisFrontier": 0}, "REDIS_URL": redis_url,
            "SCHEDULER_HEARTBEAT_SECONDS": HEARTBEAT, **settings})
        self.engine = FakeEngine()
        self.crawler.engine = cast(ExecutionEngine, self.engine)
        self.spider = UnitSpider.from_crawler(self.crawler)
        self.crawler.spider = self.spider
        scheduler = build_from_crawler(load_object(self.crawler.settings["SCHEDULER"]),
                                       self.crawler)
        assert isinstance(scheduler, RedisScheduler)
        self.scheduler = scheduler
        self.slot = self.engine._slot
        assert isinstance(self.slot, EngineSlot)

    async def open(self) -> Node:
        await maybe_deferred_to_future(self.scheduler.open(self.spider))
        return self

    async def close(self, reason: str = "shutdown") -> None:
        await maybe_deferred_to_future(self.scheduler.close(reason))
        # The first scheduler of a process to close closes the process's shared clients;
        # another one's last round then reconnects: close that connection too.
        assert self.scheduler.sync is not None
        await self.scheduler.sync.frontier.client.aclose()

    def take(self) -> Request | None:
        """What the engine does when it asks for a request: it holds it in progress."""
        request = self.scheduler.next_request()
        if request is not None:
            self.slot.inprogress.add(request)
        return request

    async def take_one(self, url: str) -> Request:
        """Enqueue ``url`` and take the request once the frontier hands it out."""
        assert self.scheduler.enqueue_request(Request(url))
        [request] = await take_all([self], 1)
        assert request.url == url
        return request

    def finish(self, request: Request) -> None:
        self.slot.inprogress.remove(request)


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``test`` on a fresh asyncio loop; the shared Redis clients go with it."""
    async def main() -> None:
        try:
            await test()
        finally:
            await connection.close_async_clients()
    asyncio.run(main())


async def until(check: Callable[[], Awaitable[bool] | bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {DEADLINE} s: {what}")
        await asyncio.sleep(0.02)


async def take_all(nodes: list[Node], count: int) -> list[Request]:
    """Ask the nodes for requests until ``count`` came, then for a few more rounds (none
    must come)."""
    taken: list[Request] = []

    def more() -> bool:
        taken.extend(r for r in (node.take() for node in nodes) if r is not None)
        return len(taken) >= count

    await until(more, f"{count} requests handed out")
    await asyncio.sleep(5 * HEARTBEAT)
    more()
    return taken


def urls(count: int) -> list[str]:
    return [f"http://{'ab'[i % 2]}.test/page/{i}" for i in range(count)]


def queued(client: redis.Redis) -> int:
    return helpers.queued(client, KEYS)


def stat(client: redis.Redis, name: str) -> int:
    return int(client.hget(KEYS.stats, name) or 0)


def test_scrapy_engine_slot_is_what_the_node_reads() -> None:
    """Scrapy's own slot satisfies the protocol; an engine without one is named."""
    async def test() -> None:
        slot: EngineSlot = _Slot(False, CallLaterOnce(lambda: None),
                                 cast(BaseScheduler, None))  # (mypy checks it too)
        assert engine_slot(SimpleNamespace(_slot=slot)) is slot
    asyncio.run(test())
    with pytest.raises(CrawlerError, match=r"no _slot\.inprogress/_slot\.nextcall"):
        engine_slot(object())


def test_enqueued_requests_are_each_handed_out_once_after_a_round(
        redis_url: str, client: redis.Redis) -> None:
    async def test() -> None:
        node = await Node(redis_url).open()
        assert node.scheduler.next_request() is None  # nothing before a round
        for url in urls(6):
            assert node.scheduler.enqueue_request(Request(url))
        taken = await take_all([node], 6)
        assert sorted(r.url for r in taken) == sorted(urls(6))
        assert client.hlen(KEYS.leased) == 6  # leased by this node, in progress
        assert queued(client) == 0
        assert node.slot.nextcall.wakes > 0  # the engine was told requests are there
        await node.close()
    run(test)


def test_two_nodes_hand_out_the_same_urls_once_between_them(
        redis_url: str, client: redis.Redis) -> None:
    async def test() -> None:
        nodes = [await Node(redis_url).open(), await Node(redis_url).open()]
        for node in nodes:
            for url in urls(8):
                assert node.scheduler.enqueue_request(Request(url))
        taken = await take_all(nodes, 8)
        assert sorted(r.url for r in taken) == sorted(urls(8))
        assert client.hlen(KEYS.leased) == 8
        assert stat(client, "duplicates") == 8
        assert len(client.hgetall(KEYS.nodes)) == 2
        for node in nodes:
            await node.close()
    run(test)


def test_a_request_stays_leased_while_in_progress_and_is_acked_after(
        redis_url: str, client: redis.Redis) -> None:
    async def test() -> None:
        node = await Node(redis_url).open()
        request = await node.take_one(urls(1)[0])
        await asyncio.sleep(5 * HEARTBEAT)  # rounds go by while the engine holds it
        assert client.hlen(KEYS.leased) == 1
        assert stat(client, "done") == 0
        node.finish(request)
        await until(lambda: client.hlen(KEYS.leased) == 0, "the lease ended")
        assert stat(client, "done") == 1
        assert queued(client) == 0
        assert client.hlen(KEYS.attempts) == 0
        await node.close()
    run(test)


def test_close_hands_unstarted_requests_back_to_another_node(
        redis_url: str, client: redis.Redis) -> None:
    async def test() -> None:
        first = await Node(redis_url).open()
        for url in urls(4):
            first.scheduler.enqueue_request(Request(url))
        await until(lambda: len(first.scheduler) == 4, "4 requests leased by the first node")
        assert client.hlen(KEYS.leased) == 4
        await first.close()
        assert client.hlen(KEYS.leased) == 0
        assert queued(client) == 4
        assert stat(client, "released") == 4
        assert client.hlen(KEYS.attempts) == 0  # handed back is not an attempt
        second = await Node(redis_url).open()
        taken = await take_all([second], 4)
        assert sorted(r.url for r in taken) == sorted(urls(4))
        await second.close()
    run(test)


def test_an_entry_that_does_not_decode_goes_to_the_dead_letters(
        redis_url: str, client: redis.Redis) -> None:
    async def test() -> None:
        queue_raw(client, KEYS, {b"9000000000000000rnot json": -10})
        node = await Node(redis_url).open()

        def ask() -> bool:  # (an entry becomes a request when the engine asks for one)
            assert node.take() is None
            return bool(client.llen(KEYS.dead) == 1)
        await until(ask, "a dead letter")
        [letter] = [json.loads(d) for d in client.lrange(KEYS.dead, 0, -1)]
        assert letter["reason"].startswith("DecodeError")
        assert node.crawler.stats.get_value("frontier/dead_letters") == 1
        await node.take_one(urls(1)[0])  # and the loop goes on
        assert client.hlen(KEYS.leased) == 1  # the request's; not the dead entry's
        await node.close()
    run(test)


def test_a_failed_callback_counts_an_attempt_instead_of_an_ack(
        redis_url: str, client: redis.Redis) -> None:
    async def test() -> None:
        node = await Node(redis_url).open()
        request = await node.take_one(urls(1)[0])
        failure = Failure(ValueError("boom"))  # type: ignore[no-untyped-call]
        node.crawler.signals.send_catch_log(
            signals.spider_error, failure=failure,
            response=Response(request.url, request=request), spider=node.spider)
        node.finish(request)
        await until(lambda: client.hlen(KEYS.attempts) == 1, "an attempt recorded")
        [history] = [json.loads(h) for h in client.hvals(KEYS.attempts)]
        assert [a["reason"] for a in history] == ["ValueError: boom"]
        assert stat(client, "failed") == 1
        assert stat(client, "done") == 0
        [again] = await take_all([node], 1)  # back in the queue, fetched again
        assert again.url == request.url
        node.finish(again)
        await until(lambda: client.hlen(KEYS.leased) == 0, "the retry acked")
        assert stat(client, "done") == 1
        assert client.hlen(KEYS.attempts) == 0
        await node.close()
    run(test)


def test_a_node_drops_a_link_it_saved_and_counts_it(redis_url: str,
                                                    client: redis.Redis) -> None:
    """Links seen again after Redis saved them are dropped on the node, counted;
    ``dont_filter`` ones still go; nothing is lost."""
    async def test() -> None:
        node = await Node(redis_url).open()
        for url in urls(6):
            assert node.scheduler.enqueue_request(Request(url))
        await until(lambda: stat(client, "enqueued") == 6, "6 requests saved")
        for url in urls(6):
            assert node.scheduler.enqueue_request(Request(url))
        assert node.scheduler.sync is not None and not node.scheduler.sync.pushes
        assert node.crawler.stats.get_value("frontier/duplicates_on_node") == 6
        assert node.scheduler.enqueue_request(Request(urls(1)[0], dont_filter=True))
        taken = await take_all([node], 7)
        assert sorted(r.url for r in taken) == sorted([*urls(6), urls(1)[0]])
        assert stat(client, "duplicates") == 0  # none reached Redis
        await node.close()
    run(test)


def test_a_link_pushed_in_a_failed_round_is_not_dropped_on_the_node(
        redis_url: str, client: redis.Redis) -> None:
    """While Redis refuses the rounds nothing counts as saved: the same link enqueued
    again goes to Redis too, which finds it seen once the rounds go through."""
    async def test() -> None:
        node = await Node(redis_url).open()
        await until(lambda: node.crawler.stats.get_value("frontier/round_trips", 0) > 0,
                    "a first round")
        client.config_set("maxmemory", "1")  # every write refused (noeviction)
        try:
            url = urls(1)[0]
            assert node.scheduler.enqueue_request(Request(url))
            await until(lambda: node.crawler.stats.get_value("frontier/redis_errors", 0) > 0,
                        "a refused round")
            assert node.scheduler.enqueue_request(Request(url))
        finally:
            client.config_set("maxmemory", "0")
        [taken] = await take_all([node], 1)
        assert taken.url == url
        assert (stat(client, "enqueued"), stat(client, "duplicates")) == (1, 1)
        assert node.crawler.stats.get_value("frontier/duplicates_on_node") is None
        await node.close()
    run(test)


def test_a_forgotten_url_is_new_again_on_the_node_after_the_seconds(
        redis_url: str, client: redis.Redis) -> None:
    """``scrapy forget`` deletes the fingerprint in Redis; the node's memory lets the URL
    through again once ``SCHEDULER_RECENT_SECONDS`` passed."""
    async def test() -> None:
        node = await Node(redis_url, SCHEDULER_RECENT_SECONDS=1.0).open()
        url = urls(1)[0]
        await node.take_one(url)  # (saved before it was popped, a moment ago)
        assert node.crawler.request_fingerprinter is not None
        fingerprint = node.crawler.request_fingerprinter.fingerprint(Request(url))
        layout = layout_from_json(KEYS, client.hget(KEYS.seen_meta, "layout"))
        assert not isinstance(layout, BloomLayout)
        assert layout.forget(client, [fingerprint]) == 1  # what scrapy forget does
        node.scheduler.enqueue_request(Request(url))
        assert node.crawler.stats.get_value("frontier/duplicates_on_node") == 1, \
            "still remembered"
        await asyncio.sleep(1.0)
        node.scheduler.enqueue_request(Request(url))
        [again] = await take_all([node], 1)
        assert again.url == url
        await node.close()
    run(test)
