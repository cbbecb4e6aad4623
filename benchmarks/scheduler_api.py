"""Scheduler API throughput: Scrapy's memory scheduler vs scrapy-redis 0.9.1 vs ours.

Each run builds a real crawler (``scrapy.utils.test.get_crawler``) and opens its
engine (``ExecutionEngine.open_spider_async(close_if_idle=False)``), which builds the
scheduler from the ``SCHEDULER`` setting and opens it exactly as in a crawl; the engine
is never started, so nothing but this script calls the scheduler. Then:

1. **enqueue**: ``enqueue_request`` of ``--requests`` N distinct requests plus N/10
   duplicates (a new ``Request`` object for an URL enqueued earlier), yielding to the
   event loop every ``--callback-size`` requests as the engine does between callbacks;
2. **dequeue**: ``next_request`` until N requests came out; when it returns ``None``
   (ours, while its buffer refills) wait as the engine does, for the engine's next call
   (``_slot.nextcall``), which our sync task schedules when it has filled the buffer;
3. close the spider (reason ``finished``), which closes the scheduler.

The three schedulers:

* ``scrapy``: ``scrapy.core.scheduler.Scheduler``, default memory queues, in-memory
  ``RFPDupeFilter``;
* ``scrapy-redis``: ``scrapy_redis.scheduler.Scheduler`` 0.9.1 with its ``RFPDupeFilter``,
  ``SCHEDULER_PERSIST = False`` and its default ``PriorityQueue`` (sorted set);
* ``ours``: ``crawler.node.scheduler.RedisScheduler`` through the project's add-on, once with
  the default ``SCHEDULER_PREFETCH`` and once per ``--prefetch`` value.

Ours is asynchronous: ``enqueue_request`` buffers, and a background task
(``crawler.node.exchange_loop.ExchangeLoop``) pushes in batches, so its enqueue phase ends only when
that task has pushed everything (its ``pushes`` list is empty, i.e. Redis confirmed
every push, and the stats count N added and N/10 duplicates). The queue is then checked
(outside the timing) to hold the N requests: those in the queue plus those already
leased into the node's prefetch buffer, since the task tops that buffer up as soon as
the queue is not empty. During dequeue the requests handed out are not in the engine's
in-progress set, so the task acknowledges them as done, as for finished requests.

Reported, medians of ``--repeat`` runs interleaved (A B C D A B C D ...): requests/s for
enqueue (N / enqueue time), dequeue (N / dequeue time) and combined (2N / both), their
ratios to scrapy-redis and to Scrapy's memory scheduler, and for the Redis schedulers the
commands, round trips (``total_reads_processed``) and redis-server CPU time per request,
from ``INFO`` deltas taken after the scheduler opened and after it closed (this script's
own INFO and check commands left out; commands count every command a pipeline or a Lua
script runs). "client CPU" is this process's CPU time in the enqueue and dequeue phases
per request: on a busy machine it moves less than the rates, which count waiting too.

Usage::

    python benchmarks/scheduler_api.py [--requests 20000] [--repeat 3]

scrapy-redis does 3 round trips a request, ~1,000-3,000 requests/s here, so it sets the
pace: the default run (N = 20,000) takes about 4 minutes on a busy 2-core machine;
``--requests 100000 --prefetch 256`` took 5 minutes on a quiet one (load average under 1)
and 19 on a loaded one (3-7).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import random
import shlex
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # `python benchmarks/x.py` puts benchmarks/ first on the path

from scrapy.utils.reactor import install_reactor  # noqa: E402

install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")

import redis  # noqa: E402
import scrapy  # noqa: E402
from scrapy import Request, Spider  # noqa: E402
from scrapy.crawler import Crawler  # noqa: E402
from scrapy.exceptions import ScrapyDeprecationWarning  # noqa: E402
from scrapy.http import Response  # noqa: E402
from scrapy.utils.defer import deferred_from_coro  # noqa: E402

from benchmarks import sitegen  # noqa: E402
from crawler.config import DEFAULTS  # noqa: E402

SCRAPY, SCRAPY_REDIS, OURS = "scrapy", "scrapy-redis", "ours"
TIMEOUT = 600.0  # seconds one phase may take before the run is declared stuck


class BenchSpider(Spider):
    """The spider whose requests are scheduled (never crawls anything)."""

    name = "bench"

    def parse_page(self, response: Response) -> None:
        """The callback the requests name (never called)."""


# -- the variants ------------------------------------------------------------------------
@dataclass(frozen=True)
class Variant:
    """One scheduler set-up: a label, its family and its settings."""

    label: str
    family: str
    settings: dict[str, Any]


def variants(redis_url: str, prefetches: list[int], only: set[str],
             ours_set: dict[str, str]) -> list[Variant]:
    """The schedulers to compare, with their settings (``ours_set``: ours' extra ones)."""
    default_prefetch = int(DEFAULTS["SCHEDULER_PREFETCH"])
    out = [
        Variant("scrapy (memory)", SCRAPY, {"SCHEDULER": "scrapy.core.scheduler.Scheduler"}),
        Variant("scrapy-redis 0.9.1", SCRAPY_REDIS, {
            "SCHEDULER": "scrapy_redis.scheduler.Scheduler",
            "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",
            "SCHEDULER_PERSIST": False, "REDIS_URL": redis_url,
        }),
        Variant(f"ours, prefetch {default_prefetch} (default)", OURS, {
            "ADDONS": {"crawler.addon.RedisFrontier": 0}, "REDIS_URL": redis_url,
        }),
    ]
    out += [Variant(f"ours, prefetch {p}", OURS, {
        "ADDONS": {"crawler.addon.RedisFrontier": 0}, "REDIS_URL": redis_url,
        "SCHEDULER_PREFETCH": p,
    }) for p in prefetches if p != default_prefetch]
    return [Variant(v.label, v.family, {**v.settings, **ours_set} if v.family == OURS
                    else v.settings) for v in out if v.family in only]


# -- a private redis-server ----------------------------------------------------------------

@dataclass
class Reading:
    """One ``INFO`` of the server."""

    calls: dict[str, int]
    reads: int
    cpu_s: float


class Counters:
    """``INFO`` readings of the server, less this script's own commands."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.own: dict[str, int] = {}  # commands this script sent between two readings
        self.own_reads = 0

    def read(self) -> Reading:
        """Calls per command (INFO itself not counted), total_reads_processed, CPU seconds."""
        info = self.client.info("all")
        self.own_reads += 1
        calls = {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in info.items()
                 if k.startswith("cmdstat_") and k != "cmdstat_info"}
        return Reading(calls, int(info["total_reads_processed"]), sitegen.cpu_seconds(info))

    def call(self, name: str, *args: Any) -> Any:
        """Run one of this script's own commands, to be left out of the deltas."""
        self.own[name.lower()] = self.own.get(name.lower(), 0) + 1
        self.own_reads += 1
        return self.client.execute_command(name, *args)  # type: ignore[no-untyped-call]

    def delta(self, before: Reading, after: Reading) -> tuple[dict[str, int], int, float]:
        """Commands by name, round trips and server CPU seconds between two readings,
        without this script's own commands."""
        calls = {k: n - before.calls.get(k, 0) - self.own.get(k, 0) for k, n in after.calls.items()}
        reads = after.reads - before.reads - self.own_reads + 1  # `before` is not in it
        self.own, self.own_reads = {}, 0
        return {k: n for k, n in calls.items() if n > 0}, reads, after.cpu_s - before.cpu_s


# -- one run ------------------------------------------------------------------------------
@dataclass
class Run:
    """The outcome of one run of one variant."""

    enqueue_s: float = 0.0
    dequeue_s: float = 0.0
    client_cpu_s: float = 0.0  # this process, enqueue and dequeue phases
    commands: dict[str, int] = field(default_factory=dict)
    round_trips: int = 0
    redis_cpu_s: float = 0.0  # redis-server, from open to close

    def rates(self, n: int) -> tuple[float, float, float]:
        """Requests/s for enqueue, dequeue and combined (2N / both)."""
        return n / self.enqueue_s, n / self.dequeue_s, 2 * n / (self.enqueue_s + self.dequeue_s)


def build_requests(spider: Spider, n: int, seed: int) -> tuple[list[Request], int]:
    """N distinct requests, and after every 10th a duplicate of an earlier one."""
    rng = random.Random(seed)
    urls = [f"https://www.site{i % 100}.example/section/{i % 37}/page-{i}.html?id={i}"
            for i in range(n)]
    order: list[int] = []
    for i in range(n):
        order.append(i)
        if i % 10 == 9:
            order.append(rng.randrange(i + 1))
    callback = spider.parse_page  # type: ignore[attr-defined]
    return [Request(urls[i], callback=callback, meta={"depth": 1}) for i in order], len(order) - n


async def yield_until(condition: Any, what: str, task: asyncio.Task[None] | None = None) -> None:
    """Yield to the event loop until ``condition()``; fail if the sync task died or time is up."""
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if task is not None and task.done():
            raise RuntimeError(f"the frontier sync task ended while waiting for {what}: "
                               f"{task.exception()!r}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0)


async def wait_nextcall(nextcall: Any, task: asyncio.Task[None] | None) -> None:
    """Wait, as the engine does when the scheduler has nothing, for the engine's next call:
    the sync task schedules it when it has put requests in the buffer."""
    waiter = asyncio.ensure_future(nextcall.wait())
    deadline = time.monotonic() + TIMEOUT
    while not waiter.done():
        await asyncio.wait([waiter], timeout=1.0)
        if task is not None and task.done():
            raise RuntimeError(f"the frontier sync task ended during dequeue: {task.exception()!r}")
        if time.monotonic() > deadline:
            raise RuntimeError("timed out waiting for requests to dequeue")


async def run_once(variant: Variant, n: int, callback_size: int, seed: int,
                   client: redis.Redis, counters: Counters) -> Run:
    """Open a real engine with ``variant``'s scheduler, enqueue, dequeue, close."""
    client.flushall()
    crawler, scheduler = await sitegen.open_engine(BenchSpider, variant.settings)
    requests, duplicates = build_requests(crawler.spider, n, seed)
    sync: Any = getattr(scheduler, "sync", None)
    task = getattr(sync, "_task", None)
    run = Run()
    try:
        before = counters.read()
        cpu_started = time.process_time()
        started = time.perf_counter()
        for i, request in enumerate(requests, 1):
            scheduler.enqueue_request(request)
            if i % callback_size == 0:
                await asyncio.sleep(0)
        if variant.family == OURS:
            await yield_until(lambda: not sync.pushes, "the pushes", task)
        enqueued = time.perf_counter()
        run.enqueue_s = enqueued - started
        run.client_cpu_s = time.process_time() - cpu_started
        if variant.family == OURS:
            check_ours_enqueued(scheduler, crawler, counters, n, duplicates)
        out: list[Request] = []
        cpu_started = time.process_time()
        started = time.perf_counter()
        while len(out) < n:
            request = scheduler.next_request()
            if request is not None:
                out.append(request)
            elif variant.family == OURS:  # its buffer refills in the background
                await wait_nextcall(crawler.engine._slot.nextcall, task)
            else:
                raise RuntimeError(f"{variant.label} ran dry after {len(out):,} of {n:,}")
        run.dequeue_s = time.perf_counter() - started
        run.client_cpu_s += time.process_time() - cpu_started
        check_dequeued(variant, scheduler, counters, out, n)
    finally:
        await crawler.engine.close_spider_async(reason="finished")
    if variant.family != SCRAPY:
        run.commands, run.round_trips, run.redis_cpu_s = counters.delta(before, counters.read())
    return run


def check_ours_enqueued(scheduler: Any, crawler: Crawler, counters: Counters, n: int,
                        duplicates: int) -> None:
    """Redis holds the N requests (queued, or leased into the prefetch buffer)."""
    assert crawler.stats is not None
    added = crawler.stats.get_value("scheduler/enqueued/redis", 0)
    dups = (crawler.stats.get_value("frontier/duplicates", 0)  # found in Redis
            + crawler.stats.get_value("frontier/duplicates_on_node", 0))  # or on the node
    queued = int(counters.call("HGET", scheduler.keys.stats, "queued") or 0)
    leased = counters.call("HLEN", scheduler.keys.leased)
    if (added, dups, queued + leased) != (n, duplicates, n):
        raise RuntimeError(f"after enqueue: {added:,} added, {dups:,} duplicates, {queued:,} "
                           f"queued + {leased:,} leased; expected {n:,}, {duplicates:,}, {n:,}")


def check_dequeued(variant: Variant, scheduler: Any, counters: Counters, out: list[Request],
                   n: int) -> None:
    """N distinct requests came out and nothing is left."""
    if len({r.url for r in out}) != n:
        raise RuntimeError(f"{variant.label}: {len({r.url for r in out}):,} distinct URLs "
                           f"dequeued, expected {n:,}")
    if variant.family == OURS:
        left = int(counters.call("HGET", scheduler.keys.stats, "queued") or 0) + len(scheduler)
    else:
        left = 0 if scheduler.next_request() is None else 1
    if left:
        raise RuntimeError(f"{variant.label}: requests left after dequeuing {n:,}")


# -- reporting -----------------------------------------------------------------------------
def median(values: list[float]) -> float:
    """Median, NaN for none."""
    return statistics.median(values) if values else math.nan


def ratio(a: float, b: float) -> str:
    """``a / b`` as ``1.23``, ``-`` if undefined."""
    return f"{a / b:.2f}" if b and not math.isnan(a) and not math.isnan(b) else "-"


def print_table(header: list[str], rows: list[list[str]]) -> None:
    """A Markdown table; the first column left-aligned, the others right-aligned."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                for i, (c, w) in enumerate(zip(row, widths, strict=True))) + " |")


def report(results: dict[str, list[Run]], chosen: list[Variant], n: int,
           args: argparse.Namespace) -> None:
    """One table of medians, the Redis commands by name, and the command line."""
    med: dict[str, tuple[float, float, float]] = {}
    for v in chosen:
        rates = [r.rates(n) for r in results[v.label]]
        med[v.label] = (median([r[0] for r in rates]), median([r[1] for r in rates]),
                        median([r[2] for r in rates]))
    base = {fam: next((med[v.label] for v in chosen if v.family == fam), None)
            for fam in (SCRAPY, SCRAPY_REDIS)}
    rows = []
    for v in chosen:
        runs = results[v.label]
        combined = sorted(r.rates(n)[2] for r in runs)
        vs = []
        for fam in (SCRAPY_REDIS, SCRAPY):
            ref = base[fam]
            vs.append(" / ".join(ratio(med[v.label][i], ref[i]) for i in range(3))
                      if ref is not None else "-")
        redis_side = v.family != SCRAPY
        cmds = median([sum(r.commands.values()) / n for r in runs]) if redis_side else math.nan
        trips = median([r.round_trips / n for r in runs]) if redis_side else math.nan
        client_us = median([r.client_cpu_s / n * 1e6 for r in runs])
        redis_us = median([r.redis_cpu_s / n * 1e6 for r in runs]) if redis_side else math.nan
        rows.append([
            v.label, f"{med[v.label][0]:,.0f}", f"{med[v.label][1]:,.0f}",
            f"{med[v.label][2]:,.0f}", f"{combined[0]:,.0f}-{combined[-1]:,.0f}", *vs,
            f"{cmds:.2f}" if redis_side else "-", f"{trips:.3f}" if redis_side else "-",
            f"{client_us:.0f}", f"{redis_us:.0f}" if redis_side else "-",
        ])
    print()
    print(f"Scheduler API throughput, {n:,} distinct requests + {n // 10:,} duplicates "
          f"enqueued, {n:,} dequeued; medians of {args.repeat} interleaved runs (requests/s); "
          f"{args.machine}:")
    print()
    print_table(["scheduler", "enqueue/s", "dequeue/s", "combined/s (2N/t)",
                 "combined min-max", "x scrapy-redis (enq / deq / comb)",
                 "x scrapy memory (enq / deq / comb)", "Redis cmds/req", "round trips/req",
                 "client CPU us/req", "Redis CPU us/req"],
                rows)
    print()
    for v in chosen:
        if v.family == SCRAPY:
            continue
        runs = results[v.label]
        by_combined = sorted(runs, key=lambda r: r.rates(n)[2])
        mid = by_combined[len(by_combined) // 2]
        parts = ", ".join(f"{k} {c / n:.3f}" for k, c in
                          sorted(mid.commands.items(), key=lambda kv: -kv[1]))
        print(f"  {v.label}, Redis commands per request (median run): {parts}")
    print()
    print(f"Reproduce: {command_line(args)}")


def command_line(args: argparse.Namespace) -> str:
    """The command that reproduces this run, every option spelled out."""
    return shlex.join(["python", sitegen.shown_path(__file__),
                       "--requests", str(args.requests), "--repeat",
                       str(args.repeat), "--prefetch", ",".join(map(str, args.prefetch_list)),
                       "--callback-size", str(args.callback_size), "--only",
                       ",".join(sorted(args.only_set)),
                       *[part for item in args.ours_set for part in ("--ours-set", item)]])


# -- main -----------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000,
                        help="distinct requests per run, N (default 20000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per scheduler (default 3)")
    parser.add_argument("--prefetch", default="256",
                        help="SCHEDULER_PREFETCH values of extra 'ours' rows, comma-separated "
                             "(the default value always has its row; default 256)")
    parser.add_argument("--callback-size", type=int, default=50,
                        help="enqueue yields to the event loop every this many requests")
    parser.add_argument("--only", default=f"{SCRAPY},{SCRAPY_REDIS},{OURS}",
                        help="schedulers to run, comma-separated")
    parser.add_argument("--redis-server", default="redis-server", help="redis-server binary")
    parser.add_argument("--ours-set", action="append", default=[], metavar="NAME=VALUE",
                        help="extra setting of the ours rows (repeatable)")
    args = parser.parse_args(argv)
    if any("=" not in item for item in args.ours_set):
        parser.error("--ours-set takes NAME=VALUE")
    args.ours_settings = dict(item.split("=", 1) for item in args.ours_set)
    args.prefetch_list = [int(p) for p in args.prefetch.split(",") if p]
    args.only_set = {s.strip() for s in args.only.split(",") if s.strip()}
    if args.only_set - {SCRAPY, SCRAPY_REDIS, OURS}:
        parser.error(f"--only takes {SCRAPY}, {SCRAPY_REDIS}, {OURS}")
    if args.requests < 10 or args.repeat < 1 or args.callback_size < 1:
        parser.error("--requests >= 10, --repeat >= 1, --callback-size >= 1")
    return args


async def amain(args: argparse.Namespace) -> None:
    """Start Redis, run every variant ``--repeat`` times interleaved, print the table."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-sched-"))
    server = sitegen.RedisServer(workdir, args.redis_server)
    client = server.start()
    counters = Counters(client)
    load_before = os.getloadavg()[0]
    redis_version = client.info("server")["redis_version"]
    chosen = variants(server.url, args.prefetch_list, args.only_set, args.ours_settings)
    results: dict[str, list[Run]] = {v.label: [] for v in chosen}
    try:
        for rep in range(args.repeat):
            for v in chosen:
                began = time.monotonic()
                run = await run_once(v, args.requests, args.callback_size, seed=rep,
                                     client=client, counters=counters)
                results[v.label].append(run)
                enq, deq, comb = run.rates(args.requests)
                print(f"[run {rep + 1}/{args.repeat}] {v.label}: enqueue {enq:,.0f}/s, dequeue "
                      f"{deq:,.0f}/s, combined {comb:,.0f}/s ({time.monotonic() - began:.1f} s)",
                      file=sys.stderr, flush=True)
    finally:
        client.close()
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    args.machine = (f"Scrapy {scrapy.__version__}, redis-server {redis_version}, "
                    f"{os.cpu_count()} CPUs, load average {load_before:.1f} at start and "
                    f"{os.getloadavg()[0]:.1f} at end")
    report(results, chosen, args.requests, args)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark under Twisted's asyncio reactor; return the exit status."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    warnings.filterwarnings("ignore", category=ScrapyDeprecationWarning)
    from twisted.internet import reactor as installed  # the asyncio one, installed above

    reactor: Any = installed

    outcome: dict[str, BaseException | None] = {}

    def finished(result: Any) -> None:
        outcome["error"] = result.value if hasattr(result, "value") else None
        reactor.stop()

    def start() -> None:
        deferred_from_coro(amain(args)).addBoth(finished)

    reactor.callWhenRunning(start)
    reactor.run()
    error = outcome.get("error")
    if error is not None:
        raise error
    return 0


if __name__ == "__main__":
    sys.exit(main())
