"""Seeds wait in partition 0 only (``docs/partitions.md``): a pop there that hands out
seeds while no domain of partition 0 has anything queued must not back the partition off,
or the seeds left would go out one share every few seconds (up to ``MAX_BACKOFF``)."""

from __future__ import annotations

import redis

from crawler.frontier.exchange import Frontier
from crawler.frontier.round import Outgoing
from tests.contract.test_partitions import KEYS, P, run

SEEDS = 200
WANT = 16 * P  # a pop asks every partition


def test_seeds_waiting_go_out_in_the_rounds_that_follow(redis_url: str,
                                                         client: redis.Redis) -> None:
    client.lpush(KEYS.start_urls, *[f"http://s{i}.example/" for i in range(SEEDS)])

    async def body(f: Frontier) -> list[int]:
        return [len((await f.exchange(Outgoing(pop=WANT))).popped) for _ in range(3)]

    handed_out = run(redis_url, body)
    assert sum(handed_out) == SEEDS, f"seeds a round: {handed_out}, of {SEEDS}"
