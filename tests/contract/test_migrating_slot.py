"""A round sent while the crawl's slot is half-moved to another master (a reshard:
``SETSLOT MIGRATING`` on the source, ``IMPORTING`` on the target) changes nothing; sent
again once the slot has moved, every request is queued once. Before, a push recorded the
fingerprints of requests it then failed to queue (a domain's list already moved), and a
pop drained a domain's list and failed on the key it had just emptied: URLs lost for good.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
import redis
from redis.crc import key_slot

from crawler.frontier.exchange import Frontier
from crawler.frontier.formats import Entry
from crawler.frontier.limits import DomainLimits, Politeness
from crawler.frontier.round import Incoming, Outgoing, Push
from crawler.redis import connection
from crawler.redis.durability import NotDurableError
from crawler.redis.keys import CrawlKeys
from tests.contract.test_frontier import EXACT
from tests.contract.test_redis_topologies import config
from tests.redis_topologies import ClusterTopology, client_at

KEYS = CrawlKeys("crawl", "site")
MOVED, STAYS = "moved.example", "stays.example"
# Leases counted and paced: the in-flight and pace hashes exist.
CAPPED = Politeness(DomainLimits(100, 0.001))
SEED = b"http://seed.example/"


def request(domain: str, number: int) -> Push:
    """A request whose fingerprint falls in the one bucket of the test (first 2 bytes 0)."""
    fingerprint = b"\0\0" + bytes([number, domain == MOVED]) * 9
    return Push(fingerprint, 0, domain, b'{"url": "http://%s/%d"}' % (domain.encode(), number))


def state(node: redis.Redis) -> list[Any]:
    """What the source holds that a push or a pop writes: fingerprints, stats, ids,
    leases, a domain's queue (``"gone"``: the source no longer has the key)."""
    reads: list[Callable[[], Any]] = [
        lambda: node.hgetall(KEYS.seen_bucket("0000")), lambda: node.hgetall(KEYS.stats),
        lambda: node.get(KEYS.sequence), lambda: node.hgetall(KEYS.leased),
        lambda: node.lrange(KEYS.pending_list(STAYS, 0), 0, -1)]
    held = []
    for read in reads:
        try:
            held.append(read())
        except redis.exceptions.AskError:  # (a key it lacks, while the slot moves)
            held.append("gone")
    return held


FIRST = [request(d, i) for i in range(4) for d in (STAYS, MOVED)]
LATE = [request(STAYS, 9), request(MOVED, 9)]


@pytest.mark.parametrize(("sent", "moved_first"), [
    (Outgoing(pushes=LATE), [KEYS.pending_list(MOVED, 0)]),  # its list on the target
    (Outgoing(pop=100), []),  # the pop drains a list: Redis deletes it, a use fails
], ids=["push", "pop"])
def test_a_round_while_the_slot_moves_changes_nothing_then_each_request_once(
        own_cluster: ClusterTopology, sent: Outgoing, moved_first: list[str]) -> None:
    slot = key_slot(KEYS.stats.encode())
    source = own_cluster.owner(slot)
    target = next(port for port in own_cluster.masters() if port != source)
    url = own_cluster.url

    async def main() -> tuple[Incoming, list[Any], list[Any], int, list[Entry], bytes]:
        client = await connection.async_client(config(url), url)
        try:
            frontier = Frontier(client, KEYS, "priority", "n1", 60, max_attempts=3,
                                politeness=CAPPED, partitions=1)
            await frontier.open(EXACT)
            # A crawl that ran a while: a seed waiting, both domains queued, a robots.txt
            # read, an entry leased, one that failed (its attempt recorded), one
            # dead-lettered: every key the scripts declare exists (Redis refuses a script
            # whose KEYS are not all there).
            await client.lpush(frontier.keys.start_urls, SEED)
            leased = (await frontier.exchange(Outgoing(pushes=FIRST, pop=3,
                                                       crawl_delays={STAYS: 0.0}))).popped
            assert len(leased) == 3
            back = await frontier.exchange(Outgoing(failed=[(leased[0].id, "boom")],
                                                    dead=[(leased[1], "gone")]))
            assert back.error is None
            with client_at(source) as node:
                before = state(node)
                start_moving(slot, source, target)
                if moved_first:
                    node.execute_command("MIGRATE", "127.0.0.1", target, "", 0, 5000,
                                         "KEYS", *moved_first)
                refused = await frontier.exchange(sent)
                during = state(node)
            own_cluster.move_slot(slot, target)
            added, popped = 0, list[Entry]()
            for _ in range(2):  # a round that met the slot moved (MOVED) goes again
                again = await frontier.exchange(sent)
                added, popped = added + again.added, popped + again.popped
                if not isinstance(again.error, NotDurableError):
                    break
            assert again.error is None, again.error
            rest = (await frontier.exchange(Outgoing(pop=100))).popped
            return (refused, before, during, added, popped + rest + leased[2:],
                    leased[1].payload)
        finally:
            await connection.close_async_clients()

    refused, before, during, added, fetched, dead = asyncio.run(main())
    assert "non local key" in str(refused.error), refused.error
    assert during == before, "the refused round changed the source"
    assert added == len(sent.pushes)
    pushed = {SEED, *(p.payload for p in FIRST + sent.pushes)} - {dead}
    payloads = [e.payload for e in fetched]
    assert sorted(payloads) == sorted(pushed), "a request lost or queued twice"


def start_moving(slot: int, source: int, target: int) -> None:
    """Open ``slot``'s move from ``source`` to ``target`` (``SETSLOT IMPORTING`` on the
    target, ``MIGRATING`` on the source), as ``redis-cli --cluster reshard`` starts one."""
    with client_at(source) as src, client_at(target) as dst:
        ids = {port: node.execute_command("CLUSTER", "MYID").decode()
               for port, node in ((source, src), (target, dst))}
        dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", ids[source])
        src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", ids[target])
