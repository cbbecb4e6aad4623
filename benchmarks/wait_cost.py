"""What waiting for a replica costs a frontier round (``REDIS_WAIT_REPLICAS``).

Starts its own 3-master, 3-replica Redis Cluster on loopback (tests/redis_topologies.py),
then runs the same frontier rounds (each pushes ``--batch`` new requests, pops them back
and acknowledges the previous round's) through the engine's client, with
``REDIS_WAIT_REPLICAS=0`` and ``=1``, interleaved ``--repeat`` times, and prints, side by
side, the crawl master's CPU per round (``INFO cpu``) and ``WAIT``'s own (``cmdstat_wait``),
and the wall time per round. The machine is shared: read the ratio, not the absolute.

    python benchmarks/wait_cost.py [--rounds 300] [--batch 50] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from scrapy.settings import Settings

from crawler.frontier.exchange import Frontier
from crawler.frontier.fingerprints import describe
from crawler.frontier.round import Outgoing, Push
from crawler.redis import connection
from crawler.redis.config import RedisConfig
from crawler.redis.keys import CrawlKeys
from tests.redis_topologies import ClusterTopology, client_at


def master_cpu(port: int) -> tuple[float, float]:
    """The master's CPU seconds so far, and WAIT's microseconds."""
    with client_at(port) as node:
        cpu = node.info("cpu")
        wait = node.info("commandstats").get("cmdstat_wait", {}).get("usec", 0)
    return float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"]), float(wait)


async def rounds(url: str, wait: int, crawl: str, count: int, batch: int) -> float:
    """Run ``count`` rounds; the wall seconds they took."""
    config = RedisConfig.from_settings(Settings({"REDIS_URL": url,
                                                 "REDIS_WAIT_REPLICAS": wait}))
    client = await connection.async_client(config, url)
    frontier = Frontier(client, CrawlKeys("crawl", crawl), "fifo", "bench", 60, 3)
    await frontier.open(describe("exact", 16, 0, 0))
    acks: list[str] = []
    started = time.perf_counter()
    for number in range(count):
        pushes = [Push(f"{crawl}-{number}-{i}".encode().ljust(20, b"."), 0, "a.example",
                       b'{"url":"http://a.example/%d/%d"}' % (number, i))
                  for i in range(batch)]
        got = await frontier.exchange(Outgoing(pushes=pushes, acks=acks, pop=batch))
        assert got.error is None, got.error
        acks = [entry.id for entry in got.popped]
    elapsed = time.perf_counter() - started
    await connection.close_async_clients()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cluster = ClusterTopology(Path(tempfile.mkdtemp()))
    cluster.start()
    try:
        found: dict[int, list[tuple[float, float, float]]] = {0: [], 1: []}
        for run in range(args.repeat):
            for wait in (0, 1):
                crawl = f"w{wait}r{run}"
                port = cluster.master_of(CrawlKeys("crawl", crawl).stats)
                cpu0, wait0 = master_cpu(port)
                wall = asyncio.run(rounds(cluster.url, wait, crawl, args.rounds, args.batch))
                cpu1, wait1 = master_cpu(port)
                found[wait].append(((cpu1 - cpu0) / args.rounds * 1e3,
                                    (wait1 - wait0) / args.rounds, wall / args.rounds * 1e3))
        print(f"{args.rounds} rounds of {args.batch} pushes + pop + acks, median of "
              f"{args.repeat}")
        print("REDIS_WAIT_REPLICAS | master CPU ms/round | WAIT CPU us/round | wall ms/round")
        for wait, rows in found.items():
            cpu, wait_us, wall = (statistics.median(col) for col in zip(*rows, strict=True))
            print(f"{wait} | {cpu:.3f} | {wait_us:.2f} | {wall:.2f}")
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
