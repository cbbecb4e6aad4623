"""What ``SCHEDULER_BATCH_SIZE`` trades: Redis CPU per request against how long one push
script holds Redis (no other client is served while a script runs).

On one private ``redis-server``, for each batch size of ``--sizes``, interleaved
``--repeat`` times: ``FLUSHALL``, then a ``crawler.frontier.exchange.Frontier`` with that batch
size saves ``--requests`` new requests from 100 domains (encoded as the scheduler
encodes them), a node's round of ``--round`` requests at a time, exactly as a node's
sync task sends them (the round split into scripts of the batch size). Reported, medians:
client wall time and redis-server CPU time (``used_cpu_user + used_cpu_sys``) per request,
and the mean time of one script call (``INFO commandstats``, ``cmdstat_evalsha``).

Usage::

    python benchmarks/push_batch.py [--requests 40000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # `python benchmarks/x.py` puts benchmarks/ first on the path

import redis  # noqa: E402
import redis.asyncio  # noqa: E402
from scrapy import Request  # noqa: E402

from benchmarks import sitegen  # noqa: E402
from crawler.frontier.exchange import Frontier  # noqa: E402
from crawler.frontier.fingerprints import describe  # noqa: E402
from crawler.frontier.limits import DomainLimits, Politeness  # noqa: E402
from crawler.frontier.round import Outgoing, Push  # noqa: E402
from crawler.node import codec  # noqa: E402
from crawler.redis.keys import CrawlKeys  # noqa: E402


def pushes(n: int) -> list[Push]:
    """N distinct requests as the scheduler would push them."""
    out = []
    for i in range(n):
        url = f"https://www.site{i % 100}.example/section/{i % 37}/page-{i}.html?id={i}"
        out.append(Push(hashlib.sha1(url.encode()).digest(), 0, f"www.site{i % 100}.example",
                        codec.encode(Request(url, meta={"depth": 1}), None)))
    return out


async def run_once(url: str, admin: redis.Redis, batch: list[Push], size: int,
                   per_round: int) -> tuple[float, float, float]:
    """Save ``batch`` with scripts of ``size``: (wall us, Redis CPU us) per request, ms a
    script."""
    admin.flushall()
    client = redis.asyncio.Redis.from_url(url)
    try:
        frontier = Frontier(client, CrawlKeys("crawl", "bench"), "priority", "bench", 60, 3,
                            Politeness(DomainLimits(0, 0.0), robots=False), batch_size=size)
        await frontier.open(describe("exact", 16, 0, 0))
        admin.config_resetstat()
        cpu, started = sitegen.cpu_seconds(admin.info("cpu")), time.perf_counter()
        for i in range(0, len(batch), per_round):
            await frontier.exchange(Outgoing(pushes=batch[i:i + per_round]))
        wall = time.perf_counter() - started
        cpu = sitegen.cpu_seconds(admin.info("cpu")) - cpu
    finally:
        await client.aclose()
    script_ms = float(admin.info("commandstats")["cmdstat_evalsha"]["usec_per_call"]) / 1000
    return wall / len(batch) * 1e6, cpu / len(batch) * 1e6, script_ms


async def amain(args: argparse.Namespace) -> None:
    """Run every size ``--repeat`` times interleaved; print one table of medians."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    server = sitegen.RedisServer(workdir, args.redis_server)
    admin = server.start()
    batch = pushes(args.requests)
    results: dict[int, list[tuple[float, float, float]]] = {s: [] for s in args.size_list}
    try:
        for _ in range(args.repeat):
            for size in args.size_list:
                results[size].append(await run_once(server.url, admin, batch, size, args.round))
    finally:
        admin.close()
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\n{args.requests:,} requests, rounds of {args.round:,}, medians of {args.repeat}:\n")
    print("| SCHEDULER_BATCH_SIZE | client wall us/request | Redis CPU us/request | "
          "ms a script |")
    print("|---:|---:|---:|---:|")
    for size, runs in results.items():
        wall, cpu, script = (statistics.median(r[i] for r in runs) for i in range(3))
        print(f"| {size} | {wall:.1f} | {cpu:.1f} | {script:.2f} |")
    print("\nReproduce: " + shlex.join([
        "python", sitegen.shown_path(__file__), "--requests", str(args.requests), "--repeat",
        str(args.repeat), "--sizes", args.sizes, "--round", str(args.round)]))


def main(argv: list[str] | None = None) -> int:
    """Parse the options and run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=40_000, help="requests a run (40000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs a size (3)")
    parser.add_argument("--sizes", default="100,250,500,1000,2000",
                        help="batch sizes, comma-separated (100,250,500,1000,2000)")
    parser.add_argument("--round", type=int, default=2000,
                        help="requests a node sends in one round (2000)")
    parser.add_argument("--redis-server", default="redis-server", help="redis-server binary")
    args = parser.parse_args(argv)
    args.size_list = [int(s) for s in args.sizes.split(",") if s]
    if args.requests < 1 or args.repeat < 1 or args.round < 1 or min(args.size_list) < 1:
        parser.error("--requests, --repeat, --round and every size must be at least 1")
    asyncio.run(amain(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
