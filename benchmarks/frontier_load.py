"""A frontier load generator: what a crawl costs Redis a page, on one Redis and on a
3-master Redis Cluster, side by side.

Starts its own servers on free loopback ports (never 6379): one ``redis-server``, and a
3-master, 3-replica Redis Cluster (``tests/redis_topologies.py``). On each, interleaved
``--repeat`` times: ``FLUSHALL``, one home page a domain is pushed (``--domains``), then
``--nodes`` simulated nodes (asyncio tasks on one client made as a node makes it:
``crawler.redis.connection.async_client``, so a cluster with replicas ``WAIT``s for one)
drive the real ``crawler.frontier.exchange.Frontier`` at full speed, no downloads, until
``--pages`` pages are done. A node plans its rounds with the node's own ``Outbox``: each
round acknowledges the pages of its last pop with their links (so a round's 640 links
exceed one push script's 500 and the acks go one round later, as a node's do), pops
``--prefetch`` more (``SCHEDULER_PREFETCH``'s default, 64), and once a second carries
the heartbeat and the reclaim of expired leases. Every page is done the moment it is
popped and yields ``--links`` links (10): ``--new-links`` (2) to deep pages of its own
domain (never seen before), the rest to the five top pages of its own domain (3 in 4) or of
a random domain (1 in 4): most seen already, the crawl growing over every domain as a real
one does. A link is pushed as the scheduler pushes it: SHA1 fingerprint, priority 0, its
domain, the codec's bytes for ``Request(url, meta={"depth": 2})`` (written directly: the
same bytes, without building a Scrapy request). A node reports each new domain's
robots.txt as read (no Crawl-delay), as a node does once it fetched it.

Limits are the project's defaults: no per-domain cap or pace (``DOMAIN_CONCURRENCY=0``,
``DOMAIN_RATE=""``), ``ROBOTSTXT_OBEY=True`` (a domain gets one request at a time until a
node has read its robots.txt), leases of 10 s, 5 attempts, push scripts of 500, exact
fingerprints in 2^16 buckets. Over 10,000 domains none of them throttles a pop.
The single Redis runs the crawl in one partition (its default). The cluster runs it once
for each number in ``--partitions`` (default ``1,0``): 1 keeps the crawl in one slot on one
master (the behaviour before partitions), 0 is the default (16 a master: 64 on 3 masters),
each reported as its own target ("cluster P=1", "cluster P=64") and interleaved with the
others.

Measured per server, from after the seeding to the last acknowledgement: CPU seconds
(``INFO cpu``: ``used_cpu_sys + used_cpu_user``), commands (``total_commands_processed``:
those a Lua script runs count), reads (``total_reads_processed``: a server's reads of
its sockets, at least one a round it serves, several for a large pipeline), scripts
(``INFO commandstats``: ``evalsha`` calls; one a partition a round touches) and, for the
last run, the commands that took the most time (microseconds inside them, wall time, not
CPU: a script's include its own commands', which count again under their names; Redis
7.0 counts them in the script about twice); after the run, the clients closed, its keys
(``DBSIZE``) and ``used_memory`` over its memory after ``FLUSHALL``, the scripts loaded.
On the client:
rounds sent (pipelines: one round of a node is one ``Frontier.exchange``) and this
process's CPU (the simulated nodes and redis-py). The machine is shared and has 2 cores:
CPU time, not wall time, is what to read. ``--check`` drains the queue after each run
and checks that every URL pushed was popped exactly once.

Usage::

    python benchmarks/frontier_load.py [--pages 50000] [--nodes 4] [--domains 10000]
        [--repeat 3] [--partitions 1,0] [--only single,cluster] [--check]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import math
import random
import shlex
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # `python benchmarks/x.py` puts benchmarks/ first on the path

import redis  # noqa: E402
from scrapy.settings import Settings  # noqa: E402

from crawler.frontier import scripts  # noqa: E402
from crawler.frontier.exchange import Frontier  # noqa: E402
from crawler.frontier.fingerprints import describe  # noqa: E402
from crawler.frontier.limits import from_values  # noqa: E402
from crawler.frontier.partitions import checked, default_count  # noqa: E402
from crawler.frontier.round import Outgoing, Push  # noqa: E402
from crawler.node.leases import LeaseBook  # noqa: E402
from crawler.node.outbox import Outbox  # noqa: E402
from crawler.node.pacing import PacedRequests  # noqa: E402
from crawler.redis import connection  # noqa: E402
from crawler.redis.config import RedisConfig  # noqa: E402
from crawler.redis.keys import CrawlKeys  # noqa: E402
from tests.redis_topologies import COMMON, ClusterTopology, Servers, client_at, free_base  # noqa: E402

TOPOLOGIES = ("single", "cluster")
KEYS = CrawlKeys("crawl", "load")
LAYOUT = describe("exact", 16, 0, 0)  # FINGERPRINT_STORE's and _BUCKET_BITS' defaults
POLITENESS = from_values(0, "", {}, True)  # the project's defaults (settings/__init__.py)
LEASE_SECONDS, MAX_ATTEMPTS, HEARTBEAT_SECONDS = 10.0, 5, 1.0  # the settings' defaults
TOP_PAGES = 5  # the pages of a domain every page links to (seen after the first visits)
DEEP_PAGES = 10**12  # a deep link's page number is drawn from this many: new


# -- the servers ----------------------------------------------------------------------------
@dataclass
class Target:
    """A Redis to load: the URL a node is given, its masters' and replicas' ports."""

    name: str
    url: str
    masters: list[int]
    replicas: list[int] = field(default_factory=list)

    def flush(self) -> None:
        """Empty every master (the replicas follow)."""
        for port in self.masters:
            with client_at(port) as node:
                node.flushall()


def start_single(servers: Servers) -> Target:
    """A lone redis-server on a free loopback port, no persistence."""
    port = free_base(1)
    servers.spawn(port, *COMMON)
    deadline = time.monotonic() + 30
    while True:
        try:
            with client_at(port) as node:
                node.ping()
            return Target("single", f"redis://127.0.0.1:{port}/0", [port])
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {port} did not start") from None
            time.sleep(0.05)


def start_cluster(folder: Path) -> tuple[Target, ClusterTopology]:
    """A 3-master, 3-replica Redis Cluster on loopback."""
    cluster = ClusterTopology(folder)
    cluster.start()
    masters = cluster.masters()
    return Target("cluster", cluster.url, masters,
                  [cluster.replica_of(port) for port in masters]), cluster


@dataclass(frozen=True)
class Counters:
    """What one server has done so far; ``by_command``: calls and microseconds."""

    cpu: float
    commands: int
    reads: int
    by_command: Counter[tuple[str, str]] = field(default_factory=Counter)

    @classmethod
    def read(cls, port: int) -> Counters:
        with client_at(port) as node:
            cpu, stats = node.info("cpu"), node.info("stats")
            commandstats = node.info("commandstats")
        by_command: Counter[tuple[str, str]] = Counter()
        for name, figures in commandstats.items():
            command = name.removeprefix("cmdstat_")
            by_command[command, "calls"] = int(figures["calls"])
            by_command[command, "usec"] = int(figures["usec"])
        return cls(float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"]),
                   int(stats["total_commands_processed"]), int(stats["total_reads_processed"]),
                   by_command)

    def __sub__(self, other: Counters) -> Counters:
        by_command = Counter(self.by_command)
        by_command.subtract(other.by_command)
        return Counters(self.cpu - other.cpu, self.commands - other.commands,
                        self.reads - other.reads, by_command)


def used_memory(port: int) -> int:
    with client_at(port) as node:
        return int(node.info("memory")["used_memory"])


def key_count(port: int) -> int:
    with client_at(port) as node:
        return int(node.dbsize())


# -- the simulated crawl ----------------------------------------------------------------------
@dataclass(frozen=True)
class Shape:
    """The crawl each run simulates."""

    pages: int
    nodes: int
    domains: int
    links: int
    new_links: int
    prefetch: int
    seed: int = 1


@dataclass(frozen=True)
class Run:
    """A target, the partitions its crawl asks for (0: the default) and will get."""

    target: Target
    asked: int
    count: int

    @property
    def label(self) -> str:
        return "single" if self.target.name == "single" else f"cluster P={self.count}"


def runs_of(target: Target, partitions: list[int]) -> list[Run]:
    """The runs on ``target``: the single Redis's default (one partition), or one on the
    cluster for each number of ``partitions`` (0: the default) the crawl gets."""
    if target.name == "single":
        return [Run(target, 0, 1)]
    counts = {asked or default_count(len(target.masters)): asked for asked in partitions}
    return [Run(target, asked, count) for count, asked in counts.items()]


def host(domain: int) -> str:
    return f"www.site{domain:05d}.example"


def payload(domain: str, page: int) -> bytes:
    """The codec's bytes for ``Request(url, meta={"depth": 2})`` (``codec.encode``)."""
    return b'{"url":"https://%s/articles/page-%d.html","meta":{"depth":2}}' % (
        domain.encode(), page)


def link(domain: str, page: int) -> Push:
    body = payload(domain, page)
    return Push(hashlib.sha1(body).digest(), 0, domain, body)


@dataclass
class Tally:
    """What the nodes did in one run: pages, rounds, the URLs pushed and popped."""

    goal: int
    claimed: int = 0  # pages a pop in flight or done may bring (never past the goal)
    done: int = 0
    rounds: int = 0
    errors: int = 0
    links: int = 0
    added: int = 0
    idle: int = 0  # nodes whose last pop found the queue empty with nothing to push
    pushed: set[bytes] = field(default_factory=set)
    popped: Counter[bytes] = field(default_factory=Counter)

    def claim(self, wanted: int) -> int:
        got = max(0, min(wanted, self.goal - self.claimed))
        self.claimed += got
        return got


def links_of(domain: str, shape: Shape, rng: random.Random) -> list[Push]:
    """The links a page of ``domain`` yields (see the module's docstring)."""
    out = [link(domain, rng.randrange(TOP_PAGES, DEEP_PAGES)) for _ in range(shape.new_links)]
    for _ in range(shape.links - shape.new_links):
        other = domain if rng.random() < 0.75 else host(rng.randrange(shape.domains))
        out.append(link(other, rng.randrange(TOP_PAGES)))
    return out


def node_state(pages: int) -> dict[str, Any]:
    """A heartbeat of the shape a node sends (``crawler.node.heartbeat``)."""
    return {"host": "load", "pid": 0, "started": 0.0, "pages": pages, "items": 0,
            "errors": 0, "ppm": 0.0, "in_progress": 0, "prefetched": 0, "idle_for": -1}


def new_frontier(client: Any, node_id: str, partitions: int) -> Frontier:
    """A frontier as a node makes it, asking for ``partitions`` (0: the default)."""
    return Frontier(client, KEYS, "priority", node_id, LEASE_SECONDS, MAX_ATTEMPTS,
                    POLITENESS, partitions=partitions)


async def simulate_node(frontier: Frontier, shape: Shape, tally: Tally,
                        rng: random.Random) -> None:
    """One node: rounds until the crawl's goal is reached and everything is saved."""
    book = LeaseBook(PacedRequests(lambda: None, lambda _: None, lambda _d, _r: True),
                     lambda _entry: None)
    outbox = Outbox(book, frontier.batch_size, frontier.lease_seconds)
    robots_read: set[str] = set()
    last_beat, pages, idle = -math.inf, 0, False
    queued: int | None = None  # the crawl's queued entries, as the last heartbeat saw them
    while True:
        want = tally.claim(shape.prefetch)
        now = time.monotonic()
        beat = now - last_beat >= HEARTBEAT_SECONDS
        if not want and not outbox.unsaved():
            return
        if idle and tally.idle == shape.nodes:  # the queue ran dry everywhere
            tally.claimed -= want
            return
        sent = outbox.plan(pop=want, heartbeat=node_state(pages) if beat else None)
        got = await frontier.exchange(sent.out)
        tally.rounds += got.sent
        if got.cluster is not None:
            queued = got.cluster.queued
        outbox.forget_saved(sent, got)
        tally.added += got.added
        tally.claimed -= want - len(got.popped)
        if got.error is None:
            outbox.forget_sent(sent, now)
            last_beat = now if beat else last_beat
        else:  # sent again next round, as a node does
            tally.errors += 1
        for entry in got.popped:
            tally.popped[entry.payload] += 1
            pushes = links_of(entry.domain, shape, rng)
            tally.links += len(pushes)
            tally.pushed.update(p.payload for p in pushes)
            outbox.pushes += pushes
            book.done.append(entry.id)
            if entry.domain not in robots_read:
                robots_read.add(entry.domain)
                outbox.crawl_delays[entry.domain] = 0.0
        pages += len(got.popped)
        tally.done += len(got.popped)
        # (an empty pop says only that the partitions it asked were empty)
        dry = want > 0 and not got.popped and not outbox.pushes and queued == 0
        if dry != idle:
            idle, tally.idle = dry, tally.idle + (1 if dry else -1)
        if dry:
            await asyncio.sleep(0.01)


async def seed(client: Any, shape: Shape, tally: Tally, partitions: int) -> int:
    """Push every domain's home page, as the crawl's seeds; the crawl's partitions."""
    frontier = new_frontier(client, "seeder", partitions)
    await frontier.open(LAYOUT)
    pushes = [link(host(d), 0) for d in range(shape.domains)]
    got = await frontier.exchange(Outgoing(pushes=pushes))
    if got.error is not None:
        raise got.error
    tally.pushed.update(p.payload for p in pushes)
    tally.added += got.added
    return frontier.partitions


async def drain(client: Any, tally: Tally, partitions: int) -> None:
    """Pop (and acknowledge) everything still queued, into ``tally.popped``."""
    frontier = new_frontier(client, "drain", partitions)
    await frontier.open(LAYOUT)
    acks: list[str] = []
    while True:  # until a pop finds nothing and the crawl's counts say nothing is queued
        got = await frontier.exchange(Outgoing(acks=acks, pop=2000, heartbeat=node_state(0)))
        if got.error is not None:
            raise got.error
        acks = [entry.id for entry in got.popped]
        tally.popped.update(entry.payload for entry in got.popped)
        if not got.popped and got.cluster is not None and got.cluster.queued == 0:
            await frontier.exchange(Outgoing(acks=acks))
            await frontier.leave()
            return


@dataclass
class Result:
    """One run on one target."""

    label: str  # the run's: "single", "cluster P=64"
    partitions: int  # the crawl's
    pages: int
    rounds: int
    errors: int
    links: int
    new_urls: int
    pending: int  # URLs pushed and not popped: queued when the run ended
    client_cpu: float
    wall: float
    masters: dict[int, Counters]
    replicas: dict[int, Counters]
    keys: dict[int, int]
    memory: dict[int, int]
    popped_twice: int = -1  # with --check: URLs popped more than once
    never_popped: int = -1  # with --check: URLs pushed and never popped

    def per_page(self, value: float) -> float:
        return value / self.pages if self.pages else math.nan

    @property
    def master_cpu(self) -> float:
        return sum(c.cpu for c in self.masters.values())

    def by_command(self) -> Counter[tuple[str, str]]:
        """``INFO commandstats`` summed over the masters: calls and microseconds."""
        total: Counter[tuple[str, str]] = Counter()
        for counters in self.masters.values():
            total.update(counters.by_command)
        return total

    def figures(self) -> dict[str, float]:
        """The reported figures of this run, by column."""
        cpus = [c.cpu for c in self.masters.values()]
        return {
            "pages": self.pages,
            "Redis CPU ms/page": self.per_page(self.master_cpu) * 1e3,
            "busiest-master CPU ms/page": self.per_page(max(cpus)) * 1e3,
            "pages per busiest-master CPU-s": self.pages / max(cpus),
            "replica CPU ms/page": self.per_page(sum(c.cpu for c in self.replicas.values())) * 1e3,
            "commands/page": self.per_page(sum(c.commands for c in self.masters.values())),
            "scripts/page": self.per_page(sum(
                n for (command, what), n in self.by_command().items()
                if what == "calls" and command in SCRIPT_COMMANDS)),
            "round trips/page": self.per_page(self.rounds),
            "server reads/page": self.per_page(sum(c.reads for c in self.masters.values())),
            "client CPU ms/page": self.per_page(self.client_cpu) * 1e3,
            "new URLs/page": self.per_page(self.new_urls),
            "pending URLs": self.pending,
            "memory B/pending URL": sum(self.memory.values()) / max(1, self.pending),
            "wall pages/s": self.pages / self.wall,
            "CPU max/mean": balance(cpus),
            "keys max/mean": balance(list(self.keys.values())),
            "memory max/mean": balance(list(self.memory.values())),
        }


SCRIPT_COMMANDS = ("evalsha", "eval", "evalsha_ro", "eval_ro")


def balance(values: list[float] | list[int]) -> float:
    """max/mean: 1 when evenly spread, the number of servers when one holds it all."""
    mean = sum(values) / len(values)
    return max(values) / mean if mean > 0 else math.nan


async def crawl(run: Run, shape: Shape, check: bool) -> Result:
    """Run the simulated crawl once on ``run.target`` (emptied first) and measure it."""
    target = run.target
    target.flush()
    config = RedisConfig.from_settings(Settings({"REDIS_URL": target.url}))
    try:
        client = await connection.async_client(config, target.url)
        await scripts.load(client)  # (cached by earlier runs: part of the empty memory)
        empty = {port: used_memory(port) for port in target.masters}
        tally = Tally(shape.pages)
        partitions = await seed(client, shape, tally, run.asked)
        if partitions != run.count:
            raise AssertionError(f"{run.label}: the crawl got {partitions} partitions")
        frontiers = [new_frontier(client, f"node-{i}", run.asked)
                     for i in range(shape.nodes)]
        for frontier in frontiers:
            await frontier.open(LAYOUT)
        seeded = len(tally.pushed)
        before = {port: Counters.read(port) for port in target.masters + target.replicas}
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(simulate_node(f, shape, tally, random.Random(shape.seed + i))
                               for i, f in enumerate(frontiers)))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        after = {port: Counters.read(port) - before[port] for port in before}
        await connection.close_async_clients()  # their buffers are no part of the crawl
        result = Result(
            run.label, partitions, tally.done, tally.rounds, tally.errors, tally.links,
            len(tally.pushed) - seeded, len(tally.pushed) - tally.done, cpu, wall,
            {port: after[port] for port in target.masters},
            {port: after[port] for port in target.replicas},
            {port: key_count(port) for port in target.masters},
            {port: max(0, used_memory(port) - empty[port]) for port in target.masters})
        if check:
            await drain(await connection.async_client(config, target.url), tally, run.asked)
            result.popped_twice = sum(1 for n in tally.popped.values() if n > 1)
            result.never_popped = len(tally.pushed - set(tally.popped))
            if tally.added != len(tally.pushed):
                raise AssertionError(f"Redis added {tally.added} URLs of the "
                                     f"{len(tally.pushed)} distinct ones pushed")
        return result
    finally:
        await connection.close_async_clients()


# -- the report ---------------------------------------------------------------------------------
COST_COLUMNS = ("pages", "Redis CPU ms/page", "busiest-master CPU ms/page",
                "pages per busiest-master CPU-s", "replica CPU ms/page", "commands/page",
                "scripts/page", "round trips/page", "server reads/page", "client CPU ms/page")
TOP_COMMANDS = 6  # the commands the report lists a target, by their time
SPREAD_COLUMNS = ("new URLs/page", "pending URLs", "memory B/pending URL", "CPU max/mean",
                  "keys max/mean", "memory max/mean", "wall pages/s")


def medians(runs: list[Result]) -> dict[str, float]:
    figures = [run.figures() for run in runs]
    return {name: statistics.median(f[name] for f in figures) for name in figures[0]}


COUNTS = ("pages", "pending URLs")


def shown(value: float, count: bool = False) -> str:
    if count:
        return f"{value:,.0f}"
    if math.isnan(value):
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def table(results: dict[str, list[Result]], columns: tuple[str, ...]) -> list[str]:
    lines = ["| Redis | " + " | ".join(columns) + " |",
             "|---|" + "---:|" * len(columns)]
    for name, runs in results.items():
        found = medians(runs)
        cells = [shown(found[c], c in COUNTS) for c in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def busiest_commands(run: Result) -> str:
    """The commands that took the masters the most time in ``run``: calls and
    microseconds a page (a script's own commands are counted in it and again apart)."""
    total = run.by_command()
    names = sorted({command for command, _ in total}, key=lambda c: -total[c, "usec"])
    return ", ".join(f"{name} {run.per_page(total[name, 'calls']):.3f} calls "
                     f"{run.per_page(total[name, 'usec']):.1f} us"
                     for name in names[:TOP_COMMANDS])


def report(results: dict[str, list[Result]], shape: Shape, repeat: int,
           argv: list[str]) -> list[str]:
    """The tables of medians, each master's share and the busiest commands in the last
    run, and the command."""
    lines = [f"{shape.pages:,} pages, {shape.nodes} nodes, {shape.domains:,} domains, "
             f"{shape.links} links a page ({shape.new_links} new), prefetch "
             f"{shape.prefetch}; P: the crawl's partitions; medians of {repeat}:", ""]
    lines += [*table(results, COST_COLUMNS), "", *table(results, SPREAD_COLUMNS), ""]
    for name, runs in results.items():
        last = runs[-1]
        shares = ", ".join(
            f"{port}: {c.cpu / last.pages * 1e3:.3f} ms/page, {last.keys[port]:,} keys, "
            f"{last.memory[port] / 2**20:.1f} MiB" for port, c in last.masters.items())
        lines.append(f"{name}, last run, each master: {shares}")
        lines.append(f"{name}, last run, a page on the masters: {busiest_commands(last)}")
        if last.pages != shape.pages:
            lines.append(f"{name}: the queue ran dry after {last.pages:,} pages (!)")
        if last.errors:
            lines.append(f"{name}: {last.errors} rounds had an error and went again")
        if last.popped_twice >= 0:
            lines.append(f"{name}, --check: {last.popped_twice} URLs popped twice, "
                         f"{last.never_popped} never popped")
    lines += ["", "Reproduce: " + shlex.join(["python", "benchmarks/frontier_load.py", *argv])]
    return lines


def shape_of(args: argparse.Namespace) -> Shape:
    return Shape(args.pages, args.nodes, args.domains, args.links, args.new_links,
                 args.prefetch)


def run_all(args: argparse.Namespace, folder: Path,
            on_result: Callable[[Result], None] = lambda _: None) -> dict[str, list[Result]]:
    """Start the servers ``args.only`` names and run each ``args.repeat`` times,
    interleaved (the cluster once for each of ``args.partitions``); the results by the
    runs' labels."""
    servers = Servers(folder / "single")
    cluster: ClusterTopology | None = None
    shape = shape_of(args)
    try:
        runs = []
        for name in args.only:
            if name == "single":
                runs += runs_of(start_single(servers), args.partitions)
            else:
                target, cluster = start_cluster(folder / "cluster")
                runs += runs_of(target, args.partitions)
        results: dict[str, list[Result]] = {run.label: [] for run in runs}
        for _ in range(args.repeat):
            for run in runs:
                result = asyncio.run(crawl(run, shape, args.check))
                results[run.label].append(result)
                on_result(result)
        return results
    finally:
        servers.stop_all()
        if cluster is not None:
            cluster.stop()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=50_000, help="pages a run (50000)")
    parser.add_argument("--nodes", type=int, default=4, help="simulated nodes (4)")
    parser.add_argument("--domains", type=int, default=10_000, help="domains (10000)")
    parser.add_argument("--links", type=int, default=10, help="links a page (10)")
    parser.add_argument("--new-links", type=int, default=2,
                        help="of which to pages never seen (2)")
    parser.add_argument("--prefetch", type=int, default=64, help="a pop's size (64)")
    parser.add_argument("--partitions", default="1,0",
                        help="the cluster's runs: Frontier(partitions=N) for each N, "
                             "comma-separated; 0: the default, 16 a master (1,0)")
    parser.add_argument("--repeat", type=int, default=3, help="runs a target (3)")
    parser.add_argument("--only", default=",".join(TOPOLOGIES),
                        help="targets, comma-separated (single,cluster)")
    parser.add_argument("--check", action="store_true",
                        help="drain after each run: every URL popped exactly once")
    args = parser.parse_args(argv)
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    if not args.only or set(args.only) - set(TOPOLOGIES):
        parser.error(f"--only={','.join(args.only)}: choose from {','.join(TOPOLOGIES)}")
    if min(args.pages, args.nodes, args.domains, args.links, args.prefetch, args.repeat) < 1:
        parser.error("--pages, --nodes, --domains, --links, --prefetch and --repeat must be "
                     "at least 1")
    if not 0 <= args.new_links <= args.links:
        parser.error(f"--new-links={args.new_links} must be from 0 to --links={args.links}")
    try:
        asked = [checked(n.strip(), "--partitions") for n in args.partitions.split(",")]
    except ValueError as error:
        parser.error(str(error))
    args.partitions = asked
    return args


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run, print the report."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    with tempfile.TemporaryDirectory(prefix="bench-load-") as folder:
        results = run_all(args, Path(folder), lambda r: print(
            f"{r.label}: {r.pages:,} pages, {r.master_cpu:.2f} Redis CPU-s, "
            f"{r.wall:.1f} s", file=sys.stderr, flush=True))
    print("\n".join(report(results, shape_of(args), args.repeat, argv)))
    failed = [r for runs in results.values() for r in runs
              if r.popped_twice > 0 or r.never_popped > 0 or r.pages != args.pages]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
