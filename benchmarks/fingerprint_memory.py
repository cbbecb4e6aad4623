"""Redis memory per request fingerprint: scrapy-redis's layout vs this project's.

For every count of ``--counts``, on one private ``redis-server``, after ``FLUSHALL``:

* **scrapy-redis**: ``SADD <spider>:dupefilter <40-char hex SHA1>``, one big set, which
  is what ``scrapy_redis.dupefilter.RFPDupeFilter.request_seen`` does;
* **ours** (``FINGERPRINT_STORE = "exact"``, the default): ``HSETNX <bucket> <field> ""``
  where ``bucket, field = crawler.frontier.fingerprints.ExactLayout(CrawlKeys("crawl", "bench"),
  bits).locate(fp)``: exactly what ``crawler/frontier/lua/push.lua`` writes (12 bytes of the
  fingerprint kept, in ``2^bits`` small hashes);
* **ours, Bloom** (``FINGERPRINT_STORE = "bloom"``) with ``BLOOM_CAPACITY`` = the count:
  its memory is fixed by the layout, not by what is inserted (``BLOOM_BITS_PER_URL`` bits
  per URL of capacity), so it is measured by allocating the bitmaps of
  ``BloomLayout(keys, count, bits_per_url)`` the way a crawl does when it begins
  (``Frontier._create_bitmaps``: SET of each bitmap whole) rather than by inserting
  ``count`` x k bit positions.

Bytes/fingerprint = ``INFO memory`` ``used_memory`` after the inserts minus before,
divided by the count. The "after" reading is taken with the inserting connection closed
(its buffers are not data) and with no hash table half-way through a rehash (checked
with ``DEBUG HTSTATS``): a set that grows past a power of two allocates a table twice
as big and moves its entries one bucket per command that touches it, keeping both
tables meanwhile, so a set left mid-rehash is first driven to the end with
``SISMEMBER`` lookups. That is the set's smallest footprint at that count, which favours
scrapy-redis; the keyspace (our 2^bits bucket keys) is rehashed by Redis's own cron.

Fingerprints are those of distinct URLs. The first ``--scrapy-limit`` (default 1M) come
from Scrapy's own ``RequestFingerprinter().fingerprint(Request(url))``, computed in one
process per core (~80 us each here, too slow for 10M); the rest are ``hashlib.sha1`` of the
URL string (2-3 us). Both are 20-byte SHA1 digests of distinct inputs, so they spread
alike over the buckets; the table says which were used for each count. Inserts are sent
as raw RESP pipelines of ``--batch`` commands over a socket, because redis-py's pipeline
costs ~18 us a command on this machine and 10M x 2 would not fit the time budget.

Usage::

    python benchmarks/fingerprint_memory.py [--counts 1000000,10000000] [--bits 16]

The default run takes about 4 minutes on a 2-core machine.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import multiprocessing
import os
import shlex
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # `python benchmarks/x.py` puts benchmarks/ first on the path

import redis  # noqa: E402

from benchmarks import sitegen  # noqa: E402
from crawler.config import DEFAULTS  # noqa: E402
from crawler.frontier.fingerprints import KEPT_BYTES, BloomLayout, ExactLayout  # noqa: E402
from crawler.redis.keys import CrawlKeys  # noqa: E402

DIGEST = 20  # bytes of a SHA1 fingerprint
SCRAPY_REDIS_KEY = "bench:dupefilter"  # scrapy-redis's SCHEDULER_DUPEFILTER_KEY for spider "bench"
CHUNK = 20_000  # fingerprints per worker task


# -- fingerprints ---------------------------------------------------------------------------
def url_for(i: int) -> str:
    """The ``i``-th distinct URL: 1000 hosts, paths and query strings as a crawl sees them."""
    host, section = i % 1000, i // 1000 % 100
    return f"https://www.site{host}.example/section/{section}/page-{i}.html?id={i}&ref=b"


def _scrapy_chunk(bounds: tuple[int, int]) -> bytes:
    """Scrapy fingerprints of URLs ``range(*bounds)``, concatenated (runs in a worker)."""
    from scrapy import Request
    from scrapy.utils.request import RequestFingerprinter

    fingerprinter = RequestFingerprinter()
    return b"".join(fingerprinter.fingerprint(Request(url_for(i))) for i in range(*bounds))


def _sha1_chunk(bounds: tuple[int, int]) -> bytes:
    """SHA1 of the URL strings ``range(*bounds)``, concatenated (runs in a worker)."""
    sha1 = hashlib.sha1
    return b"".join(sha1(url_for(i).encode()).digest() for i in range(*bounds))


def compute_fingerprints(total: int, scrapy_limit: int, workers: int) -> bytes:
    """``total`` 20-byte fingerprints in one buffer: Scrapy's first, then plain SHA1."""
    out = bytearray()
    plan: list[tuple[str, Callable[[tuple[int, int]], bytes], int, int]] = [
        ("Scrapy RequestFingerprinter", _scrapy_chunk, 0, min(total, scrapy_limit)),
        ("hashlib.sha1(url)", _sha1_chunk, min(total, scrapy_limit), total),
    ]
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for label, func, start, stop in plan:
            if stop <= start:
                continue
            began = time.monotonic()
            chunks = [(i, min(i + CHUNK, stop)) for i in range(start, stop, CHUNK)]
            for done, blob in enumerate(pool.imap(func, chunks), 1):
                out += blob
                if done % (10 if func is _scrapy_chunk else 50) == 0 or done == len(chunks):
                    progress(f"fingerprints ({label}): {len(out) // DIGEST:,} of {total:,}",
                             began)
    return bytes(out)


def source_label(count: int, scrapy_limit: int) -> str:
    """Where the first ``count`` fingerprints came from."""
    scrapy = min(count, scrapy_limit)
    if scrapy == count:
        return "Scrapy"
    if scrapy == 0:
        return "sha1(url)"
    return f"Scrapy {human(scrapy)} + sha1(url) {human(count - scrapy)}"


# -- inserting ------------------------------------------------------------------------------
class RawPipeline:
    """Sends pre-encoded RESP commands in batches and checks their integer replies.

    Every command sent here (SADD, HSETNX, SISMEMBER) answers ``:0`` or ``:1``, 4 bytes,
    so the replies of a batch are exactly 4 bytes a command; an error reply breaks that
    pattern and is reported. ``send`` does not wait: the caller encodes the next batch
    while the server works on this one, then ``collect``s its replies.
    """

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.pending: list[int] = []

    def send(self, payload: bytes, count: int) -> None:
        """Send a batch of ``count`` commands."""
        self.sock.sendall(payload)
        self.pending.append(count)

    def collect(self) -> int:
        """Read the replies of the oldest batch sent; return how many were ``:1``."""
        count = self.pending.pop(0)
        buf = bytearray(4 * count)
        view, got = memoryview(buf), 0
        while got < len(buf):
            n = self.sock.recv_into(view[got:])
            if not n:
                raise RuntimeError("redis-server closed the connection")
            got += n
        ones, zeros = buf.count(b":1\r\n"), buf.count(b":0\r\n")
        if ones + zeros != count:
            start = buf.find(b"-")
            error = bytes(buf[start:buf.find(b"\r\n", start)]) if start >= 0 else b"?"
            raise RuntimeError(f"unexpected reply from Redis: {error.decode(errors='replace')}")
        return ones

    def close(self) -> None:
        """Close the connection (its buffers are freed on the server)."""
        self.sock.close()


def encode_sadd(fingerprints: list[bytes]) -> bytes:
    """``SADD bench:dupefilter <hex>`` for each fingerprint, as RESP."""
    key = SCRAPY_REDIS_KEY.encode()
    head = b"*3\r\n$4\r\nSADD\r\n$%d\r\n%s\r\n$%d\r\n" % (len(key), key, 2 * DIGEST)
    return b"".join([head + fp.hex().encode() + b"\r\n" for fp in fingerprints])


class HsetnxEncoder:
    """``HSETNX <bucket> <field> ""`` for each fingerprint, as RESP, via ``locate``."""

    def __init__(self, layout: ExactLayout) -> None:
        self.layout = layout
        self.heads: dict[str, bytes] = {}

    def __call__(self, fingerprints: list[bytes]) -> bytes:
        """The commands of one batch."""
        parts = []
        heads, locate = self.heads, self.layout.locate
        for fp in fingerprints:
            bucket, field = locate(fp)
            head = heads.get(bucket)
            if head is None:
                key = bucket.encode()
                head = heads[bucket] = b"*4\r\n$6\r\nHSETNX\r\n$%d\r\n%s\r\n$%d\r\n" % (
                    len(key), key, len(field))
            parts.append(head + field + b"\r\n$0\r\n\r\n")
        return b"".join(parts)


# -- measuring ------------------------------------------------------------------------------
@dataclass
class Measure:
    """One layout at one count."""

    bytes_per_fp: float
    added: int
    seconds: float
    keys: int
    note: str = ""


def htstats(client: redis.Redis, key: str | None) -> str:
    """``DEBUG HTSTATS`` of the keyspace (``key=None``) or of the set at ``key``."""
    args = ("HTSTATS-KEY", key) if key else ("HTSTATS", 0)
    text = client.execute_command("DEBUG", *args)  # type: ignore[no-untyped-call]
    return text.decode() if isinstance(text, bytes) else str(text)


def rehashing(client: redis.Redis, key: str | None) -> bool:
    """Whether the keyspace (``key=None``) or the set at ``key`` is being rehashed."""
    return "rehashing target" in htstats(client, key)


def flush(client: redis.Redis) -> None:
    """FLUSHALL in the background (a 10M-member set takes longer to free than a socket
    timeout), then wait until Redis has freed it all."""
    client.flushall(asynchronous=True)
    while int(client.info("memory").get("lazyfree_pending_objects", 0)) > 0:
        time.sleep(0.1)


def settled_memory(client: redis.Redis, timeout: float = 300.0) -> int:
    """``used_memory`` once the keyspace is not being rehashed (Redis's cron finishes that)."""
    began = time.monotonic()
    while rehashing(client, None):
        if time.monotonic() - began > timeout:
            raise RuntimeError(f"Redis still rehashing its keyspace after {timeout:.0f} s")
        time.sleep(0.1)
    return int(client.info("memory")["used_memory"])


def finish_set_rehash(client: redis.Redis, pipe: RawPipeline, key: str) -> int:
    """Drive a rehash of the set at ``key`` to its end; return the lookups it took.

    Redis's cron rehashes only the keyspace; a set's own table moves at least one
    bucket of the old table per command that touches it, so a set that grew past a power
    of two keeps both tables until it is used enough. ``SISMEMBER`` of an absent member
    is such a command: send as many as the old table still holds entries, then look
    again (``DEBUG HTSTATS-KEY`` walks the whole table, so it is asked rarely).
    """
    lookups = 0
    command = b"*3\r\n$9\r\nSISMEMBER\r\n$%d\r\n%s\r\n$1\r\n-\r\n" % (len(key), key.encode())
    while True:
        stats = htstats(client, key)
        if "rehashing target" not in stats:
            return lookups
        left = int(stats.split("number of elements:", 1)[1].split()[0])  # in the old table
        for start in range(0, max(left, 1), 100_000):
            size = min(100_000, max(left, 1) - start)
            pipe.send(command * size, size)
            pipe.collect()
            lookups += size


def measure(client: redis.Redis, port: int, name: str, count: int, blob: bytes,
            encode: Callable[[list[bytes]], bytes], batch: int, set_key: str | None) -> Measure:
    """Insert ``count`` fingerprints with ``encode`` after FLUSHALL; memory delta per fp."""
    flush(client)
    before = settled_memory(client)
    pipe = RawPipeline(port)
    added, began = 0, time.monotonic()
    for start in range(0, count, batch):
        stop = min(start + batch, count)
        pipe.send(encode([blob[o:o + DIGEST] for o in range(start * DIGEST, stop * DIGEST,
                                                              DIGEST)]), stop - start)
        if len(pipe.pending) > 1:  # the server works on this batch while we encode the next
            added += pipe.collect()
        if stop % 1_000_000 < batch or stop == count:
            progress(f"  {name} {human(count)}: {stop:,} sent", began)
    while pipe.pending:
        added += pipe.collect()
    seconds = time.monotonic() - began
    note = ""
    if set_key is not None:
        lookups = finish_set_rehash(client, pipe, set_key)
        if lookups:
            note = f"{lookups:,} SISMEMBER to finish the set's rehash"
            progress(f"  {name} {human(count)}: {note}", began)
    pipe.close()
    time.sleep(0.2)  # let the server notice the closed connection and free its buffers
    after = settled_memory(client)
    keys = int(client.dbsize())
    return Measure((after - before) / count, added, seconds, keys, note)


def measure_bloom(client: redis.Redis, layout: BloomLayout, count: int) -> float:
    """Bytes per fingerprint of a Bloom filter sized for ``count``: its bitmaps, allocated."""
    flush(client)
    before = settled_memory(client)
    zeros = bytes(layout.bits_per_bitmap // 8)
    # A connection of its own, closed before the reading: Redis keeps a query buffer the
    # size of the last big value a client sent, and counts it in used_memory.
    kwargs = client.connection_pool.connection_kwargs
    writer = redis.Redis(connection_pool=redis.ConnectionPool(**kwargs))
    for key in layout.bitmap_keys():
        writer.set(key, zeros, nx=True)
    writer.close()
    writer.connection_pool.disconnect()
    time.sleep(0.2)
    after = settled_memory(client)
    flush(client)
    return (after - before) / count


def bloom_false_positive_rate(layout: BloomLayout) -> float:
    """The filter's false-positive rate once ``capacity`` URLs are in: (1 - e^(-k/b))^k."""
    k, b = layout.hashes, layout.bits_per_url
    return float((1 - math.exp(-k / b)) ** k)


def check_buckets(client: redis.Redis, layout: ExactLayout) -> str:
    """How the bucket hashes are encoded (``listpack`` is the compact one)."""
    encodings: dict[str, int] = {}
    cursor = 0
    pattern = layout.keys.seen_bucket("*")
    while True:
        cursor, keys = client.scan(cursor, match=pattern, count=10_000)
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.object("encoding", key)
        for encoding in pipe.execute():
            name = encoding.decode() if isinstance(encoding, bytes) else str(encoding)
            encodings[name] = encodings.get(name, 0) + 1
        if cursor == 0:
            break
    return ", ".join(f"{n:,} {e}" for e, n in sorted(encodings.items()))


# -- output -----------------------------------------------------------------------------------
_T0 = time.monotonic()


def progress(message: str, began: float | None) -> None:
    """One progress line on stderr, with the time since ``began`` and since start."""
    since = f" ({time.monotonic() - began:.1f} s)" if began is not None else ""
    print(f"[{time.monotonic() - _T0:6.1f} s] {message}{since}", file=sys.stderr, flush=True)


def human(n: int) -> str:
    """1000000 -> 1M, 2500 -> 2.5k."""
    for size, suffix in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if n >= size:
            return f"{n / size:g}{suffix}"
    return str(n)


def print_table(rows: list[list[str]], header: list[str], text_columns: set[int]) -> None:
    """A Markdown table, columns padded; numbers right-aligned, ``text_columns`` left."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"
    print(line)
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(c.ljust(w) if i in text_columns else c.rjust(w)
                                for i, (c, w) in enumerate(zip(row, widths, strict=True))) + " |")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", default="1000000,10000000",
                        help="comma-separated numbers of fingerprints (default 1M and 10M)")
    parser.add_argument("--bits", type=int, default=16,
                        help="FINGERPRINT_BUCKET_BITS of our layout (default 16)")
    parser.add_argument("--bloom-bits", type=int, default=int(DEFAULTS["BLOOM_BITS_PER_URL"]),
                        help="BLOOM_BITS_PER_URL of the Bloom column (default: the engine's, "
                             "%(default)s)")
    parser.add_argument("--scrapy-limit", type=int, default=1_000_000,
                        help="fingerprints computed by Scrapy's fingerprinter; the rest are "
                             "sha1(url) (default 1000000)")
    parser.add_argument("--batch", type=int, default=10_000,
                        help="commands per pipeline (default 10000)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="processes that compute fingerprints (default: one per core)")
    parser.add_argument("--redis-server", default="redis-server", help="redis-server binary")
    args = parser.parse_args(argv)
    try:
        args.count_list = sorted({int(c.replace("_", "")) for c in args.counts.split(",") if c})
    except ValueError:
        parser.error(f"--counts {args.counts!r}: comma-separated integers expected")
    if not args.count_list or min(args.count_list) <= 0:
        parser.error("--counts needs positive numbers")
    if args.bits % 4 or not 0 <= args.bits <= 24:
        parser.error("--bits must be a multiple of 4 from 0 to 24 (as FINGERPRINT_BUCKET_BITS)")
    return args


def command_line(args: argparse.Namespace) -> str:
    """The command that reproduces this run, every option spelled out."""
    return shlex.join(["python", sitegen.shown_path(__file__),
                       "--counts", ",".join(map(str, args.count_list)),
                       "--bits", str(args.bits), "--bloom-bits", str(args.bloom_bits),
                       "--scrapy-limit", str(args.scrapy_limit),
                       "--batch", str(args.batch), "--workers", str(args.workers)])


def main(argv: list[str] | None = None) -> int:
    """Measure both layouts at every count on one redis-server and print one table."""
    args = parse_args(argv)
    load_before = os.getloadavg()[0]
    keys = CrawlKeys("crawl", "bench")
    layout = ExactLayout(keys, args.bits)
    blob = compute_fingerprints(max(args.count_list), args.scrapy_limit, args.workers)
    workdir = Path(tempfile.mkdtemp(prefix="bench-fpmem-"))
    server = sitegen.RedisServer(workdir, args.redis_server, "--enable-debug-command", "local")
    client = server.start()
    rows: list[list[str]] = []
    notes: list[str] = []
    try:
        version = client.info("server")["redis_version"]
        for count in args.count_list:
            srd = measure(client, server.port, "scrapy-redis SADD", count, blob, encode_sadd,
                          args.batch, SCRAPY_REDIS_KEY)
            if srd.added != count:
                raise RuntimeError(f"SADD added {srd.added:,} of {count:,}: URLs not distinct")
            ours = measure(client, server.port, "ours HSETNX", count, blob,
                           HsetnxEncoder(layout), args.batch, None)
            encodings = check_buckets(client, layout)
            bloom = BloomLayout(keys, max(count, 1000), args.bloom_bits)
            bloom_bytes = measure_bloom(client, bloom, count)
            notes += [f"{human(count)}, {who}: {m.note}" for who, m in
                      (("scrapy-redis", srd), ("ours", ours)) if m.note]
            flush(client)
            rows.append([
                human(count), source_label(count, args.scrapy_limit),
                f"{srd.bytes_per_fp:.1f}", f"{ours.bytes_per_fp:.1f}",
                f"{srd.bytes_per_fp / ours.bytes_per_fp:.2f}x", f"{bloom_bytes:.2f}",
                f"{ours.keys:,}", f"{count / max(ours.keys, 1):.0f}", encodings,
                f"{count - ours.added:,}", f"{srd.seconds:.1f} / {ours.seconds:.1f}",
            ])
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(f"Redis memory per fingerprint (INFO used_memory delta / count, after FLUSHALL), "
          f"redis-server {version}, our FINGERPRINT_BUCKET_BITS={args.bits} "
          f"({KEPT_BYTES} bytes kept, {KEPT_BYTES - args.bits // 8}-byte field); "
          f"{os.cpu_count()} CPUs, load average {load_before:.1f} at start and "
          f"{os.getloadavg()[0]:.1f} at end, {time.monotonic() - _T0:.0f} s in all:")
    print()
    print_table(rows, ["count", "fingerprints from", "scrapy-redis B/fp (SADD hex)",
                       "ours B/fp (HSETNX bucket)", "scrapy-redis / ours",
                       f"ours Bloom B/fp ({args.bloom_bits} bits/URL, capacity=count)",
                       "our buckets",
                       "fp/bucket", "bucket encodings", "our 96-bit collisions",
                       "insert s (srd / ours)"], text_columns={0, 1, 8})
    for note in notes:
        print(f"  {note}")
    n = 10 ** 10
    print()
    print(f"Expected colliding pairs with {8 * KEPT_BYTES} stored bits at 10^10 URLs: "
          f"n^2/2^{8 * KEPT_BYTES + 1} = {n * n / 2 ** (8 * KEPT_BYTES + 1):.2e}")
    sample = BloomLayout(keys, 10 ** 8, args.bloom_bits)
    print(f"Bloom (FINGERPRINT_STORE=bloom): memory fixed by BLOOM_CAPACITY, not by what is "
          f"inserted (bitmaps allocated, not filled); k={sample.hashes} bits per URL, "
          f"false-positive rate at capacity {bloom_false_positive_rate(sample):.1e} "
          f"(a new URL taken for a seen one is never fetched), rising past capacity.")
    print()
    print(f"Reproduce: {command_line(args)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
