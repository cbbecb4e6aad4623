"""What reading every partition's counts costs a heartbeat (``docs/partitions.md``).

Starts its own Redis on loopback, opens a crawl of ``--partitions`` partitions and one of 1,
and sends ``--beats`` heartbeat rounds through each, interleaved ``--repeat`` times; prints
the medians of Redis CPU (``INFO cpu``) and of the node's own CPU (``process_time``) per
heartbeat, side by side. The machine is shared: read the ratio, not the absolute.

    python -m benchmarks.heartbeat_partitions [--partitions 64] [--beats 2000] [--repeat 3]

2026-12-03, 2-core machine shared with a test run, 1,000 beats, medians of 3: Redis 155 vs
411 us a beat (2.7x), node 0.55 vs 6.8 ms (12x: redis-py queues and parses 126 more
commands). At the default of one heartbeat a second: 0.7% of a node's core, and 0.4 ms of
Redis CPU a node a second, spread over the masters.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import time

import redis
import redis.asyncio

from crawler.frontier.exchange import Frontier
from crawler.frontier.fingerprints import describe
from crawler.frontier.round import Outgoing
from crawler.redis.embedded import server_binary
from crawler.redis.keys import CrawlKeys
from tests.redis_topologies import free_base


def redis_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def beats(port: int, partitions: int, crawl: str, count: int) -> tuple[float, float]:
    """Redis and node CPU microseconds a heartbeat, over ``count`` heartbeats."""
    client = redis.asyncio.Redis(port=port)
    try:
        frontier = Frontier(client, CrawlKeys("crawl", crawl), "priority", "bench", 60, 3,
                            partitions=partitions)
        await frontier.open(describe("exact", 16, 0, 0))
        beat = Outgoing(heartbeat={"idle_for": -1})
        with redis.Redis(port=port) as sync:
            server, node = redis_cpu(sync), time.process_time()
            for _ in range(count):
                await frontier.exchange(beat)
            server, node = redis_cpu(sync) - server, time.process_time() - node
        return server / count * 1e6, node / count * 1e6
    finally:
        await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--partitions", type=int, default=64)
    parser.add_argument("--beats", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    port = free_base(1)
    server = subprocess.Popen([server_binary(), "--port", str(port), "--bind", "127.0.0.1",
                               "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        found: dict[int, list[tuple[float, float]]] = {1: [], args.partitions: []}
        for repeat in range(args.repeat):
            for count in found:
                found[count].append(asyncio.run(beats(port, count, f"c{count}-{repeat}",
                                                      args.beats)))
        print("partitions  redis us/beat  node us/beat")
        for count, runs in found.items():
            print(f"{count:10d}  {statistics.median(r for r, _ in runs):13.0f}  "
                  f"{statistics.median(n for _, n in runs):12.0f}")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
