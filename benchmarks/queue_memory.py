"""Redis memory per queued request: scrapy-redis 0.9.1 vs ours, side by side.

``--requests`` N requests (~69-character URLs spread evenly over ``--domains`` hosts,
deterministic: hosts, sections, slugs, item ids and query strings as a crawl finds them),
each ``Request(url, callback=spider.parse, meta={"depth": 2})`` as a link extracted at
depth 2 carries after ``DepthMiddleware``, are enqueued through a real crawler and left
unfetched. One private ``redis-server`` serves every run:

* **scrapy-redis**: ``scrapy_redis.scheduler.Scheduler`` 0.9.1 with its defaults
  (``PriorityQueue``: pickled ``request.to_dict`` in one sorted set; ``RFPDupeFilter``:
  40-character hex SHA1 in one set), ``SCHEDULER_PERSIST = True`` so closing keeps them;
* **ours**: ``crawler.node.scheduler.RedisScheduler`` through the project's add-on, default
  settings (a list per domain and priority with a small sorted set of its priorities,
  entries without id or domain while queued; exact fingerprints in 2^16 bucket hashes).

Each run builds a crawler with ``scrapy.utils.test.get_crawler``, opens its engine (which
opens the scheduler as a crawl does; the engine is never started), calls
``enqueue_request`` for every request, waits until ours has pushed them all, and closes the
spider, which closes the scheduler (ours hands back what it prefetched). Bytes/request =
``used_memory`` after minus before (after ``FLUSHALL``), divided by N, read with every
client of the run disconnected and no hash table half-way through a rehash: the keyspace
is rehashed by Redis's cron; a set's or sorted set's own table moves one bucket per command
that touches it, so one left with both tables is driven to the end with lookups of an
absent member (as ``fingerprint_memory.py`` does; the smallest footprint, for both). The
reading before that is shown too ("as left").

Where the bytes go (every run): the keys are deleted group by group and ``used_memory``
read again after each: ours' fingerprint buckets, then its domain queues (lists and
priorities sets), the rest being its other keys (stats, sequence, ready domains, nodes,
scripts); scrapy-redis's dupefilter, the rest being its queue. The stored entries' lengths
are read back.

``--explain`` adds experiments on the same server, each after ``FLUSHALL``: the entries
ours stored, written again as lists (as stored), as sorted sets (skiplist, and listpack
with ``zset-max-listpack-*`` raised), as the layout before the lists stored them (16-digit
id and ``<domain> `` in every entry, per-domain sorted sets), with ``https://<domain>`` cut
from the URL too (the key names the domain: the request codec's part), and the bare paths
(the floor of any layout); one entry a domain (the cost of a domain's keys); the
fingerprint fields ours stored, written again in 2^16 and in 2^12 buckets.

Usage::

    python benchmarks/queue_memory.py [--requests 300000] [--domains 1000] [--repeat 3]
                                      [--explain]

scrapy-redis sends two commands a request, so it sets the pace: 4 to 9 minutes a run at
the full size on a loaded 2-core machine (``--repeat 3 --explain`` took 24 minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shlex
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
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
from scrapy.exceptions import ScrapyDeprecationWarning  # noqa: E402
from scrapy.http import Response  # noqa: E402
from scrapy.utils.defer import deferred_from_coro  # noqa: E402
from twisted.internet.task import react  # noqa: E402

from benchmarks import sitegen  # noqa: E402
from benchmarks.fingerprint_memory import (  # noqa: E402
    flush,
    htstats,
    print_table,
    progress,
    settled_memory,
)
from crawler.frontier.fingerprints import ExactLayout  # noqa: E402
from crawler.frontier.formats import ID_LENGTH, from_queued  # noqa: E402
from crawler.redis.keys import CrawlKeys  # noqa: E402

SCRAPY_REDIS, OURS = "scrapy-redis", "ours"
KEYS = CrawlKeys("crawl", "bench")  # the add-on's KEY_PREFIX, the spider's name
SRD_QUEUE, SRD_DUPEFILTER = "bench:requests", "bench:dupefilter"  # scrapy-redis's defaults
TIMEOUT = 600.0

_WORDS = ("news shop blog market travel food home garden tech media city music sport auto "
          "health book photo game design world local green style daily open data art film "
          "north bright river stone cloud").split()
_TLDS = ("com", "com", "com", "org", "net", "de", "co.uk", "io", "fr", "info")
_SECTIONS = ("products", "category", "articles", "blog", "news", "catalog", "tag",
             "collections", "docs", "forum")


class BenchSpider(Spider):
    """The spider whose requests are queued (never crawls)."""

    name = "bench"

    def parse(self, response: Response, **kwargs: Any) -> None:
        """The callback every request names (never called)."""


# -- the requests ---------------------------------------------------------------------------
def make_urls(n: int, domains: int, seed: int = 1) -> list[str]:
    """``n`` distinct URLs over ``domains`` hosts, round-robin; ~69 characters on average."""
    rng = random.Random(seed)
    hosts: list[str] = []
    while len(hosts) < domains:
        name = rng.choice(_WORDS) + rng.choice(_WORDS)
        if rng.random() < 0.3:
            name += "-" + rng.choice(_WORDS)
        host = ("www." if rng.random() < 0.6 else "") + name + "." + rng.choice(_TLDS)
        if host not in hosts:
            hosts.append(host)
    urls = []
    for i in range(n):
        shape, section, word = rng.random(), rng.choice(_SECTIONS), rng.choice(_WORDS)
        number = 1_000_000 + i
        if shape < 0.5:
            slug = "-".join(rng.choice(_WORDS) for _ in range(rng.randint(2, 5)))
            path = f"/{section}/{word}/{slug}-{number}.html"
        elif shape < 0.8:
            path = f"/{section}/{word}-{rng.choice(_WORDS)}/item/{number}?ref={rng.choice(_WORDS)}"
        else:
            path = (f"/{section}/{word}?page={rng.randint(2, 400)}&sort={rng.choice(_WORDS)}"
                    f"&id={number}")
        urls.append(f"https://{hosts[i % domains]}{path}")
    return urls


# -- settling and reading memory ----------------------------------------------------------------
def scan_keys(client: redis.Redis, match: str = "*", kind: str | None = None) -> list[bytes]:
    """Every key matching ``match`` (of type ``kind``)."""
    return list(client.scan_iter(match=match, count=10_000, _type=kind))


def finish_rehashes(client: redis.Redis) -> int:
    """Drive every set's and sorted set's half-done rehash to its end; the lookups it took.

    Redis's cron rehashes only the keyspace; a set's table moves at least one bucket per
    command that touches it, so lookups of an absent member finish it."""
    lookups = 0
    for kind, command in (("zset", "ZSCORE"), ("set", "SISMEMBER")):
        for key in scan_keys(client, kind=kind):
            while "rehashing target" in (stats := htstats_or_empty(client, key)):
                left = int(stats.split("number of elements:", 1)[1].split()[0])
                for start in range(0, max(left, 1), 10_000):
                    pipe = client.pipeline(transaction=False)
                    for _ in range(min(10_000, max(left, 1) - start)):
                        pipe.execute_command(command, key, "\x00absent")  # type: ignore[no-untyped-call]
                    lookups += len(pipe.execute())
    return lookups


def htstats_or_empty(client: redis.Redis, key: bytes) -> str:
    """``DEBUG HTSTATS-KEY`` of ``key``; ``""`` when it is not a hash table (a listpack)."""
    try:
        return htstats(client, key.decode())
    except redis.ResponseError:
        return ""


def memory(client: redis.Redis, alone: bool = True) -> tuple[int, int]:
    """``used_memory`` once nothing is rehashing: (as left, settled). With ``alone``, first
    wait until this client is the only one connected (a closed client's buffers are freed
    when the server notices)."""
    deadline = time.monotonic() + 30
    while alone and int(client.info("clients")["connected_clients"]) > 1:
        if time.monotonic() > deadline:
            raise RuntimeError("other clients still connected to the benchmark's redis-server")
        time.sleep(0.05)
    time.sleep(0.3)  # let the cron start any resize of the keyspace (after deletions)
    as_left = settled_memory(client)
    finish_rehashes(client)
    return as_left, settled_memory(client)


def delete(client: redis.Redis, keys: list[bytes]) -> None:
    """DEL ``keys``, 1,000 a command."""
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start:start + 1000])


# -- one run ------------------------------------------------------------------------------------
Queues = dict[bytes, list[bytes]]  # domain list key -> its entries, as stored, in order
Buckets = dict[bytes, dict[bytes, bytes]]  # fingerprint bucket key -> field -> day
@dataclass
class Run:
    """One variant's run: bytes per request, and where they go."""

    total: float = 0.0
    as_left: float = 0.0
    parts: dict[str, float] = field(default_factory=dict)  # B/request by key group
    entry_bytes: float = 0.0  # mean stored queue member length
    encodings: str = ""
    seconds: float = 0.0
    data: tuple[Queues, Buckets] | None = None  # what ours stored, read for --explain


async def enqueue_all(settings: dict[str, Any], urls: list[str], ours: bool) -> float:
    """Open a real engine with ``settings``, enqueue a request per URL, close; seconds."""
    crawler, scheduler = await sitegen.open_engine(BenchSpider, settings)
    callback = crawler.spider.parse
    began = time.perf_counter()
    try:
        for i, url in enumerate(urls, 1):
            scheduler.enqueue_request(Request(url, callback=callback, meta={"depth": 2}))
            if i % 100 == 0:
                await asyncio.sleep(0)  # the engine yields between callbacks
        if ours:
            deadline = time.monotonic() + TIMEOUT
            while scheduler.sync.pushes:
                if time.monotonic() > deadline:
                    raise RuntimeError("ours: the pushes did not end")
                await asyncio.sleep(0.01)
        seconds = time.perf_counter() - began
    finally:
        await crawler.engine.close_spider_async(reason="finished")
    if not ours:  # scrapy-redis keeps its connections open after close
        scheduler.server.connection_pool.disconnect()
        scheduler.df.server.connection_pool.disconnect()
    return seconds


async def run_once(family: str, client: redis.Redis, url: str, urls: list[str],
                   capture: bool = False) -> Run:
    """Measure one variant once, then take its keys apart group by group (with
    ``capture``, first read what ours stored)."""
    n = len(urls)
    flush(client)
    client.script_flush()
    before = memory(client)[1]
    settings: dict[str, Any] = (
        {"ADDONS": {"crawler.addon.RedisFrontier": 0}, "REDIS_URL": url}
        if family == OURS else
        {"SCHEDULER": "scrapy_redis.scheduler.Scheduler",
         "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",
         "SCHEDULER_PERSIST": True, "REDIS_URL": url})
    run = Run(seconds=await enqueue_all(settings, urls, family == OURS))
    as_left, after = memory(client)
    run.total, run.as_left = (after - before) / n, (as_left - before) / n
    if family == OURS:
        queues = scan_keys(client, KEYS.domain_priorities("*"), "list")
        priorities = scan_keys(client, KEYS.domain_priorities("*"), "zset")
        groups = [("fingerprints", scan_keys(client, KEYS.seen_bucket("*"))),
                  ("queue", queues + priorities)]
    else:
        queues = [SRD_QUEUE.encode()]
        groups = [("fingerprints", [SRD_DUPEFILTER.encode()]), ("queue", queues)]
    queued, lengths, encodings = queue_stats(client, queues)
    if queued != n:
        raise RuntimeError(f"{family}: {queued:,} requests queued, expected {n:,}")
    run.entry_bytes, run.encodings = lengths / n, encodings
    if capture:
        run.data = read_ours(client)
    last = after
    for name, keys in groups:
        delete(client, keys)
        now = memory(client, alone=False)[1]
        run.parts[name], last = (last - now) / n, now
    run.parts["other keys"] = (last - before) / n
    return run


def queue_stats(client: redis.Redis, keys: list[bytes]) -> tuple[int, int, str]:
    """Members of the lists or sorted sets ``keys``, their total length, the keys'
    encodings."""
    count = length = 0
    encodings: dict[str, int] = {}
    kind = "list"
    for key in keys:
        raw = client.type(key)
        kind = raw.decode() if isinstance(raw, bytes) else str(raw)
        encoding = client.object("encoding", key)
        name = encoding.decode() if isinstance(encoding, bytes) else str(encoding)
        encodings[name] = encodings.get(name, 0) + 1
        for members in members_of(client, key, kind):
            count += len(members)
            length += sum(len(m) for m in members)
    shown = ", ".join(f"{c:,} {e}" for e, c in sorted(encodings.items()))
    kind = {"list": "list", "zset": "sorted set"}.get(kind, kind)
    return count, length, f"{len(keys):,} {kind}{'s' if len(keys) > 1 else ''} ({shown})"


def members_of(client: redis.Redis, key: bytes, kind: str) -> Iterator[list[bytes]]:
    """The members of list or sorted set ``key``, in order, 10,000 at a time."""
    size = int(client.llen(key) if kind == "list" else client.zcard(key))
    for start in range(0, size, 10_000):
        yield (client.lrange(key, start, start + 9_999) if kind == "list"  # type: ignore[misc]
               else client.zrange(key, start, start + 9_999))


# -- experiments (--explain) --------------------------------------------------------------------


def read_ours(client: redis.Redis) -> tuple[Queues, Buckets]:
    """The entries ours stored (by domain list) and its fingerprint buckets' fields."""
    queues: Queues = {}
    for key in scan_keys(client, KEYS.domain_priorities("*"), "list"):
        queues[key] = [m for part in members_of(client, key, "list") for m in part]
    buckets: Buckets = {}
    keys = scan_keys(client, KEYS.seen_bucket("*"))
    for start in range(0, len(keys), 5000):
        pipe = client.pipeline(transaction=False)
        for key in keys[start:start + 5000]:
            pipe.hgetall(key)
        buckets.update(zip(keys[start:start + 5000], pipe.execute(), strict=True))
    return queues, buckets


def domain_of(key: bytes) -> bytes:
    """The domain that list ``key`` (``<pending>:<domain> <priority>``) queues for."""
    return key[len(KEYS.pending) + 1:key.rindex(b" ")]


def as_before(key: bytes, entry: bytes, seq: int = 10**9) -> bytes:
    """``entry`` as the layout before the lists stored it: 16-digit id, ``<domain> ``."""
    return from_queued(entry, domain_of(key).decode(), seq)


def without_origin(key: bytes, entry: bytes) -> bytes:
    """``entry`` with ``https://<domain>`` cut from its URL (the key names the domain)."""
    entry_id, body = (entry[:ID_LENGTH], entry[ID_LENGTH:]) if entry[:1].isdigit() else (
        b"", entry)  # (an entry handed back keeps its id)
    prefix = b'q{"url":"https://' + domain_of(key)
    if not body.startswith(prefix):
        raise RuntimeError(f"unexpected entry {entry[:80]!r}")
    return entry_id + b'q{"url":"' + body[len(prefix):]


def path_only(key: bytes, entry: bytes) -> bytes:
    """The URL's path and query alone: what no layout can leave out."""
    body = without_origin(key, entry).lstrip(b"0123456789")
    return body[len(b'q{"url":"'):body.index(b'"', len(b'q{"url":"'))]


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    """``items`` in lists of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def write_zsets(client: redis.Redis, queues: Queues, entry: Callable[[bytes, bytes], bytes],
                per_domain: bool = False) -> None:
    """ZADD each list's entries (as ``entry`` makes them), scored by their place; with
    ``per_domain``, one sorted set a domain (the layout before the lists)."""
    pipe = client.pipeline(transaction=False)
    for key, members in queues.items():
        target = KEYS.domain_queue(domain_of(key).decode()) if per_domain else key
        for start, part in enumerate(chunks(members, 500)):
            pipe.zadd(target, {entry(key, m): start * 500 + i for i, m in enumerate(part)})
        if len(pipe) > 100:
            pipe.execute()
    pipe.execute()


def write_lists(client: redis.Redis, queues: Queues, entry: Callable[[bytes, bytes], bytes],
                ) -> None:
    """RPUSH each list's entries (as ``entry`` makes them) in their order, and the domain's
    priorities set as push.lua does."""
    pipe = client.pipeline(transaction=False)
    for key, members in queues.items():
        priority = int(key[key.rindex(b" ") + 1:])
        pipe.zadd(KEYS.domain_priorities(domain_of(key).decode()), {str(priority): -priority})
        for part in chunks(members, 500):
            pipe.rpush(key, *[entry(key, m) for m in part])
        if len(pipe) > 100:
            pipe.execute()
    pipe.execute()


def write_buckets(client: redis.Redis, buckets: Buckets,
                  bits: int) -> None:
    """The stored fingerprints written again in ``2^bits`` buckets, as ``push.lua`` would."""
    layout = ExactLayout(KEYS, bits)
    regrouped: dict[str, dict[bytes, bytes]] = {}
    for key, fields in buckets.items():
        head = bytes.fromhex(key.rsplit(b":", 1)[1].decode())  # the 16-bit bucket prefix
        for fp_field, day in fields.items():
            bucket, new_field = layout.locate(head + fp_field)
            regrouped.setdefault(bucket, {})[new_field] = day
    pipe = client.pipeline(transaction=False)
    for bucket, fields in regrouped.items():
        pipe.hset(bucket, mapping=fields)  # type: ignore[arg-type]
        if len(pipe) > 1000:
            pipe.execute()
    pipe.execute()


def identity(key: bytes, entry: bytes) -> bytes:
    """The entry as ours stored it."""
    return entry


@dataclass
class Experiment:
    """One layout of the same data, its bytes per request and mean entry length."""

    label: str
    write: Callable[[redis.Redis], None]
    entry: Callable[[bytes, bytes], bytes] | None = None
    count: int = 0  # what the bytes are divided by (0: the requests)
    config: dict[str, str] = field(default_factory=dict)


def experiments(queues: Queues, buckets: Buckets) -> list[Experiment]:
    """The layouts ``--explain`` measures."""
    firsts = {k: v[:1] for k, v in queues.items()}
    listpack = {"zset-max-listpack-entries": "1024", "zset-max-listpack-value": "1024"}
    return [
        Experiment("lists + priorities sets, entries as stored (ours)",
                   lambda c: write_lists(c, queues, identity), identity),
        Experiment("sorted sets (skiplist), entries as stored",
                   lambda c: write_zsets(c, queues, identity), identity),
        Experiment("sorted sets (listpack: zset-max-listpack-* 1024), as stored",
                   lambda c: write_zsets(c, queues, identity), identity, config=listpack),
        Experiment("the layout before: per-domain sorted sets, 16-digit id + domain",
                   lambda c: write_zsets(c, queues, as_before, per_domain=True), as_before),
        Experiment("lists, 16-digit id + domain in every entry",
                   lambda c: write_lists(c, queues, as_before), as_before),
        Experiment("lists, https://<domain> cut from the URL too (the codec's part)",
                   lambda c: write_lists(c, queues, without_origin), without_origin),
        Experiment("lists, path and query only (the floor)",
                   lambda c: write_lists(c, queues, path_only), path_only),
        Experiment(f"{len(queues):,} domains of 1 entry, as stored (B per domain)",
                   lambda c: write_lists(c, firsts, identity), identity, count=len(queues)),
        Experiment("fingerprints, 2^16 buckets (default FINGERPRINT_BUCKET_BITS)",
                   lambda c: write_buckets(c, buckets, 16)),
        Experiment("fingerprints, 2^12 buckets", lambda c: write_buckets(c, buckets, 12)),
    ]


def measure_experiment(client: redis.Redis, exp: Experiment, queues: Queues,
                       n: int) -> tuple[float, float]:
    """Bytes per request (or per key) of ``exp`` after FLUSHALL; its mean entry length."""
    flush(client)
    saved = {name: str(client.config_get(name)[name]) for name in exp.config}
    for name, value in exp.config.items():
        client.config_set(name, value)
    try:
        before = memory(client)[1]
        exp.write(client)
        after = memory(client)[1]
    finally:
        for name, value in saved.items():
            client.config_set(name, value)
    count = exp.count or n
    length = 0.0
    if exp.entry is not None:
        members = [(k, m) for k, v in queues.items() for m in v[:(1 if exp.count else None)]]
        length = statistics.fmean(len(exp.entry(k, m)) for k, m in members)
    return (after - before) / count, length


# -- output -------------------------------------------------------------------------------------
def report(results: dict[str, list[Run]], args: argparse.Namespace,
           explained: list[tuple[Experiment, float, float]]) -> None:
    """The side-by-side table, the breakdown, the experiments and the command line."""
    n = args.requests
    med = {f: statistics.median(r.total for r in runs) for f, runs in results.items()}
    rows = []
    for family, runs in results.items():
        totals = sorted(r.total for r in runs)
        parts = {p: statistics.median(r.parts[p] for r in runs) for p in runs[0].parts}
        rows.append([
            family, f"{med[family]:.1f}", f"{totals[0]:.1f}-{totals[-1]:.1f}",
            f"{statistics.median(r.as_left for r in runs):.1f}",
            f"{parts['queue']:.1f}", f"{parts['fingerprints']:.1f}",
            f"{parts['other keys']:.1f}", f"{runs[0].entry_bytes:.1f}", runs[0].encodings,
            f"{statistics.median(r.seconds for r in runs):.1f}",
        ])
    print()
    print(f"Redis memory per queued request: {n:,} requests over {args.domains:,} domains "
          f"(mean URL {args.mean_url:.1f} characters), enqueued, not fetched; used_memory "
          f"delta / N, medians of {args.repeat} interleaved runs; {args.machine}:")
    print()
    print_table(rows, ["system", "B/request", "min-max", "as left", "queue B/req",
                       "fingerprints B/req", "other keys B/req", "mean entry B", "queue keys",
                       "enqueue s"], text_columns={0, 8})
    if OURS in med and SCRAPY_REDIS in med:
        print()
        print(f"scrapy-redis / ours: {med[SCRAPY_REDIS] / med[OURS]:.2f}x; ours / scrapy-redis: "
              f"{med[OURS] / med[SCRAPY_REDIS]:.3f} (goal: at most 1/3, "
              f"{med[SCRAPY_REDIS] / 3:.0f} B)")
    if OURS in results:
        where(results[OURS], n, args.domains, explained, med.get(SCRAPY_REDIS))
    print()
    print(f"Reproduce: {command_line(args)}")


def where(runs: list[Run], n: int, domains: int, explained: list[tuple[Experiment, float, float]],
          baseline: float | None) -> None:
    """Where ours' bytes go, and (with ``--explain``) what each other layout would give."""
    parts = {p: statistics.median(r.parts[p] for r in runs) for p in runs[0].parts}
    entry = runs[0].entry_bytes
    rows = [["stored entry (mean member length)", f"{entry:.1f}"]]
    queue_exps = [(e, b, length) for e, b, length in explained if e.entry is not None]
    per_key = next((b for e, b, _ in queue_exps if e.count), None)
    as_stored = next((b for e, b, _ in queue_exps if not e.count), None)
    if per_key is not None and as_stored is not None:
        # lists: N x member + K x keys; K one-member lists: K x (member + keys)
        member = (as_stored * n - per_key * domains) / (n - domains)
        key = per_key - member
        rows += [[f"list member overhead ({runs[0].encodings})",
                  f"{parts['queue'] - entry - key * domains / n:.1f}"],
                 [f"domain keys ({domains:,} x {key:.0f} B: list, priorities set)",
                  f"{key * domains / n:.1f}"]]
    else:
        rows.append([f"list overhead and domain keys ({runs[0].encodings})",
                     f"{parts['queue'] - entry:.1f}"])
    rows += [[f"fingerprint buckets ({n / 65536:.1f} fields a bucket at 2^16)",
              f"{parts['fingerprints']:.1f}"],
             ["other keys and scripts (stats, sequence, ready domains, ...)",
              f"{parts['other keys']:.1f}"],
             ["total", f"{sum(parts.values()):.1f}"]]
    print()
    print("Where ours' bytes go (B/request, medians; each group deleted and used_memory read "
          "again):")
    print()
    print_table(rows, ["part", "B/request"], text_columns={0})
    if not explained:
        return
    rest = parts["fingerprints"] + parts["other keys"]
    table = []
    for exp, size, length in explained:
        total = size + rest if exp.entry is not None and not exp.count else None
        table.append([exp.label, f"{size:.1f}", f"{length:.1f}" if length else "-",
                      f"{total:.1f}" if total is not None else "-",
                      f"{total / baseline:.2f}" if total is not None and baseline else "-"])
    print()
    print("Experiments (--explain): the data ours stored, written again after FLUSHALL "
          "(redis-server defaults unless said; B per request unless said); with ours' "
          "fingerprints and other keys:")
    print()
    print_table(table, ["layout", "B", "mean entry B", "ours' total B/request",
                        "/ scrapy-redis"], text_columns={0})


def command_line(args: argparse.Namespace) -> str:
    """The command that reproduces this run, every option spelled out."""
    return shlex.join(["python", sitegen.shown_path(__file__), "--requests", str(args.requests),
                       "--domains", str(args.domains), "--repeat", str(args.repeat),
                       "--only", ",".join(args.only_list),
                       *(["--explain"] if args.explain else [])])


# -- main ---------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300_000,
                        help="requests enqueued per run, N (default 300000)")
    parser.add_argument("--domains", type=int, default=1000,
                        help="hosts the requests are spread over (default 1000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per system (default 3)")
    parser.add_argument("--only", default=f"{SCRAPY_REDIS},{OURS}",
                        help="systems to run, comma-separated")
    parser.add_argument("--explain", action="store_true",
                        help="also measure other layouts of ours' data (see the docstring)")
    parser.add_argument("--redis-server", default="redis-server", help="redis-server binary")
    args = parser.parse_args(argv)
    args.only_list = sitegen.chosen_variants(parser, args.only, (SCRAPY_REDIS, OURS))
    if args.requests < args.domains or args.domains < 1 or args.repeat < 1:
        parser.error("--requests >= --domains >= 1, --repeat >= 1")
    if args.explain and OURS not in args.only_list:
        parser.error("--explain needs the ours variant")
    return args


async def amain(args: argparse.Namespace) -> None:
    """Start Redis, run both systems ``--repeat`` times interleaved, print the tables."""
    urls = make_urls(args.requests, args.domains)
    args.mean_url = statistics.fmean(len(u) for u in urls)
    workdir = Path(tempfile.mkdtemp(prefix="bench-qmem-"))
    # Latency tracking gives each command name a histogram of ~15 KB the first time it runs:
    # memory that depends on which commands ran, not on the data.
    server = sitegen.RedisServer(workdir, args.redis_server, "--enable-debug-command", "local",
                                 "--latency-tracking", "no")
    client = server.start()
    load_before = os.getloadavg()[0]
    results: dict[str, list[Run]] = {f: [] for f in args.only_list}
    explained: list[tuple[Experiment, float, float]] = []
    try:
        version = client.info("server")["redis_version"]
        for rep in range(args.repeat):
            for family in args.only_list:
                began = time.monotonic()
                capture = args.explain and family == OURS and rep == args.repeat - 1
                run = await run_once(family, client, server.url, urls, capture)
                results[family].append(run)
                progress(f"[run {rep + 1}/{args.repeat}] {family}: {run.total:.1f} B/request "
                         f"({', '.join(f'{k} {v:.1f}' for k, v in run.parts.items())})", began)
        data = results[OURS][-1].data if args.explain else None
        if data is not None:
            for exp in experiments(*data):
                began = time.monotonic()
                size, length = measure_experiment(client, exp, data[0], args.requests)
                explained.append((exp, size, length))
                progress(f"[explain] {exp.label}: {size:.1f} B", began)
    finally:
        client.close()
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    args.machine = (f"Scrapy {scrapy.__version__}, redis-server {version}, {os.cpu_count()} "
                    f"CPUs, load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}")
    report(results, args, explained)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark under Twisted's asyncio reactor (installed above); exit with its
    status."""
    args = parse_args(argv)
    warnings.filterwarnings("ignore", category=ScrapyDeprecationWarning)
    react(lambda _reactor: deferred_from_coro(amain(args)))


if __name__ == "__main__":
    main()
