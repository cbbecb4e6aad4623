"""Issue 13's promises at the frontier, against a real Redis: a host with braces keeps its
domain, a dead letter sent again is stored once."""

from __future__ import annotations

import redis

from crawler.frontier.exchange import Frontier
from crawler.frontier.formats import KIND_REQUEST, Entry
from crawler.frontier.round import Outgoing, Push
from tests.contract.test_frontier import KEYS as FRONTIER_KEYS
from tests.contract.test_frontier import run


def test_a_host_with_braces_keeps_its_domain(redis_url: str, client: redis.Redis) -> None:
    # Template placeholders in crawled HTML: not an earlier version's entry.
    domain, payload = "{a}.example.com", b'{"url":"http://{a}.example.com/x"}'

    async def body(f: Frontier) -> tuple[int, list[Entry]]:
        await f.exchange(Outgoing(pushes=[Push(b"f" * 20, 0, domain, payload)]))
        queued = int(await f.client.llen(FRONTIER_KEYS.pending_list(domain, 0)))
        return queued, (await f.exchange(Outgoing(pop=5))).popped
    queued, (entry,) = run(redis_url, body)
    assert queued == 1  # in its domain's queue, under its domain's limits
    assert (entry.kind, entry.domain, entry.payload) == (KIND_REQUEST, domain, payload)


def test_a_dead_letter_sent_again_is_stored_once(redis_url: str, client: redis.Redis) -> None:
    async def body(f: Frontier) -> None:
        await f.exchange(Outgoing(pushes=[Push(b"g" * 20, 0, "d.example", b"garbage")]))
        (entry,) = (await f.exchange(Outgoing(pop=1))).popped
        for _ in range(2):  # a round whose reply was lost is sent again
            await f.exchange(Outgoing(dead=[(entry, "DecodeError: not JSON")]))
    run(redis_url, body)
    assert client.llen(FRONTIER_KEYS.dead) == 1
