"""Redis memory per request fingerprint: scrapy-redis's layout vs this project's.

For every count of ``--counts``, on one private ``redis-server``, after ``FLUSHALL``:

* **scrapy-redis**: ``SADD <spider>:dupefilter <40-char hex SHA1>``, one big set, which
  is what ``scrapy_redis.dupefilter.RFPDupeFilter.request_seen`` does;
* **ours**: ``HSETNX <bucket> <field> ""`` where ``bucket, field =
  crawler.fingerprints.FingerprintLayout(CrawlKeys("crawl", "bench"), bits).locate(fp)``:
  exactly what ``crawler/lua/push.lua`` writes (12 bytes of the fingerprint kept, in
  ``2^bits`` small hashes).

Bytes/fingerprint = ``INFO memory`` ``used_memory`` after the inserts minus before,
divided by the count. The "after" reading is taken once the server has finished
rehashing its hash tables (``DEBUG HTSTATS``: a big set grows its table in steps, and
both tables exist while it moves the entries), and with the inserting connection closed
(its buffers are not data).

Fingerprints are those of distinct URLs. The first ``--scrapy-limit`` (default 1M) come
from Scrapy's own ``RequestFingerprinter().fingerprint(Request(url))``, computed in one
process per core (~80 us each here, too slow for 10M); the rest are ``hashlib.sha1`` of the
URL string (2-3 us). Both are 20-byte SHA1 digests of distinct inputs, so they spread
alike over the buckets; the table says which were used for each count. Inserts are sent
as raw RESP pipelines of ``--batch`` commands over a socket, because redis-py's pipeline
costs ~18 us a command on this machine and 10M x 2 would not fit the time budget.

A Bloom-filter mode is not measured: the engine does not implement one yet.

Usage::

    python benchmarks/fingerprint_memory.py [--counts 1000000,10000000] [--bits 16]

The default run takes about 4 minutes on a 2-core machine.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # `python benchmarks/x.py` puts benchmarks/ first on the path

import redis  # noqa: E402

from crawler.fingerprints import KEPT_BYTES, FingerprintLayout  # noqa: E402
from crawler.keys import CrawlKeys  # noqa: E402

DIGEST = 20  # bytes of a SHA1 fingerprint
SCRAPY_REDIS_KEY = "bench:dupefilter"  # scrapy-redis's SCHEDULER_DUPEFILTER_KEY for spider "bench"
CHUNK = 20_000  # fingerprints per worker task


# -- a private redis-server ---------------------------------------------------------------
def free_port() -> int:
    """A TCP port of 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A ``redis-server`` of our own: free 127.0.0.1 port, no persistence, temp data dir."""

    def __init__(self, binary: str = "redis-server") -> None:
        self.binary = binary
        self.port = free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="bench-fpmem-"))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> redis.Redis:
        """Start the server; return a client once it answers PING."""
        cmd = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", str(self.workdir),
               "--enable-debug-command", "local",  # DEBUG HTSTATS: is a rehash under way?
               "--logfile", str(self.workdir / "redis.log")]
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
        except FileNotFoundError:
            raise SystemExit(f"{self.binary} not found: apt-get install -y redis-server") from None
        client = redis.Redis(host="127.0.0.1", port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return client
            except redis.ConnectionError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"redis-server did not start, see {self.workdir}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server and delete its folder."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        shutil.rmtree(self.workdir, ignore_errors=True)


# -- fingerprints ---------------------------------------------------------------------------
def url_for(i: int) -> str:
    """The ``i``-th distinct URL: 1000 hosts, paths and query strings as a crawl sees them."""
    return f"https://www.site{i % 1000}.example/section/{i // 1000 % 100}/page-{i}.html?id={i}&ref=b"


def _scrapy_chunk(bounds: tuple[int, int]) -> bytes:
    """Scrapy fingerprints of URLs ``range(*bounds)``, concatenated (runs in a worker)."""
    from scrapy import Request  # noqa: PLC0415
    from scrapy.utils.request import RequestFingerprinter  # noqa: PLC0415

    fingerprinter = RequestFingerprinter()
    return b"".join(fingerprinter.fingerprint(Request(url_for(i))) for i in range(*bounds))


def _sha1_chunk(bounds: tuple[int, int]) -> bytes:
    """SHA1 of the URL strings ``range(*bounds)``, concatenated (runs in a worker)."""
    sha1 = hashlib.sha1
    return b"".join(sha1(url_for(i).encode()).digest() for i in range(*bounds))


def compute_fingerprints(total: int, scrapy_limit: int, workers: int) -> bytearray:
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
                if done % 50 == 0 or done == len(chunks):
                    progress(f"fingerprints ({label}): {len(out) // DIGEST:,} of {total:,}",
                             began)
    return out


def fingerprints_of(buffer: bytearray, count: int) -> Iterator[bytes]:
    """The first ``count`` fingerprints of ``buffer``."""
    view = memoryview(buffer)
    for offset in range(0, count * DIGEST, DIGEST):
        yield bytes(view[offset:offset + DIGEST])


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
    """Sends pre-encoded RESP commands in batches and checks their integer replies."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))

    def send(self, payload: bytes, count: int) -> int:
        """Send ``count`` commands; return how many replied ``:1`` (the rest ``:0``)."""
        self.sock.sendall(payload)
        buf = bytearray()
        while buf.count(b"\r\n") < count:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise RuntimeError("redis-server closed the connection")
            buf += chunk
        ones, zeros = buf.count(b":1\r\n"), buf.count(b":0\r\n")
        if ones + zeros != count:
            error = next((line for line in bytes(buf).split(b"\r\n") if line.startswith(b"-")),
                         b"?")
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

    def __init__(self, layout: FingerprintLayout) -> None:
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


def rehashing(client: redis.Redis, key: str | None) -> bool:
    """Whether the keyspace (``key=None``) or the set at ``key`` is being rehashed."""
    text = client.execute_command("DEBUG", "HTSTATS-KEY", key) if key else \
        client.execute_command("DEBUG", "HTSTATS", 0)
    if isinstance(text, bytes):
        text = text.decode()
    return "rehashing target" in str(text)


def settled_memory(client: redis.Redis, key: str | None, timeout: float = 300.0) -> int:
    """``used_memory`` once no rehash is under way (Redis finishes them in its cron)."""
    began = time.monotonic()
    while rehashing(client, None) or (key is not None and rehashing(client, key)):
        if time.monotonic() - began > timeout:
            raise RuntimeError(f"Redis still rehashing after {timeout:.0f} s")
        time.sleep(0.1)
    waited = time.monotonic() - began
    if waited > 1:
        progress(f"  waited {waited:.1f} s for Redis to finish rehashing", None)
    return int(client.info("memory")["used_memory"])


def measure(client: redis.Redis, port: int, name: str, count: int, buffer: bytearray,
            encode: Callable[[list[bytes]], bytes], batch: int, set_key: str | None) -> Measure:
    """Insert ``count`` fingerprints with ``encode`` after FLUSHALL; memory delta per fp."""
    client.flushall()
    before = settled_memory(client, None)
    pipe = RawPipeline(port)
    added, began = 0, time.monotonic()
    fingerprints = fingerprints_of(buffer, count)
    sent = 0
    while sent < count:
        block = [next(fingerprints) for _ in range(min(batch, count - sent))]
        added += pipe.send(encode(block), len(block))
        sent += len(block)
        if sent % 1_000_000 < batch or sent == count:
            progress(f"  {name} {human(count)}: {sent:,} inserted", began)
    seconds = time.monotonic() - began
    pipe.close()
    time.sleep(0.2)  # let the server notice the closed connection and free its buffers
    after = settled_memory(client, set_key)
    keys = int(client.dbsize())
    return Measure((after - before) / count, added, seconds, keys)


def check_buckets(client: redis.Redis, layout: FingerprintLayout) -> str:
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


def print_table(rows: list[list[str]], header: list[str]) -> None:
    """A Markdown table, columns padded."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"
    print(line)
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(c.rjust(w) if i else c.ljust(w)
                                for i, (c, w) in enumerate(zip(row, widths, strict=True))) + " |")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", default="1000000,10000000",
                        help="comma-separated numbers of fingerprints (default 1M and 10M)")
    parser.add_argument("--bits", type=int, default=16,
                        help="FINGERPRINT_BUCKET_BITS of our layout (default 16)")
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
    script = Path(__file__).resolve()
    try:
        shown = str(script.relative_to(Path.cwd()))
    except ValueError:
        shown = str(script)
    return shlex.join(["python", shown, "--counts", ",".join(map(str, args.count_list)),
                       "--bits", str(args.bits), "--scrapy-limit", str(args.scrapy_limit),
                       "--batch", str(args.batch), "--workers", str(args.workers)])


def main(argv: list[str] | None = None) -> int:
    """Measure both layouts at every count on one redis-server and print one table."""
    args = parse_args(argv)
    layout = FingerprintLayout(CrawlKeys("crawl", "bench"), args.bits)
    buffer = compute_fingerprints(max(args.count_list), args.scrapy_limit, args.workers)
    server = RedisServer(args.redis_server)
    client = server.start()
    rows: list[list[str]] = []
    try:
        version = client.info("server")["redis_version"]
        for count in args.count_list:
            srd = measure(client, server.port, "scrapy-redis SADD", count, buffer, encode_sadd,
                          args.batch, SCRAPY_REDIS_KEY)
            if srd.added != count:
                raise RuntimeError(f"SADD added {srd.added:,} of {count:,}: URLs not distinct")
            ours = measure(client, server.port, "ours HSETNX", count, buffer,
                           HsetnxEncoder(layout), args.batch, None)
            encodings = check_buckets(client, layout)
            client.flushall()
            rows.append([
                human(count), source_label(count, args.scrapy_limit),
                f"{srd.bytes_per_fp:.1f}", f"{ours.bytes_per_fp:.1f}",
                f"{srd.bytes_per_fp / ours.bytes_per_fp:.2f}x",
                f"{ours.keys:,}", f"{count / max(ours.keys, 1):.0f}", encodings,
                f"{count - ours.added:,}", f"{srd.seconds:.0f} / {ours.seconds:.0f}",
            ])
    finally:
        server.stop()
    print()
    print(f"Redis memory per fingerprint (INFO used_memory delta / count, after FLUSHALL), "
          f"redis-server {version}, our FINGERPRINT_BUCKET_BITS={args.bits} "
          f"({KEPT_BYTES} bytes kept, {KEPT_BYTES - args.bits // 8}-byte field):")
    print()
    print_table(rows, ["count", "fingerprints from", "scrapy-redis B/fp (SADD hex)",
                       "ours B/fp (HSETNX bucket)", "scrapy-redis / ours", "our buckets",
                       "fp/bucket", "bucket encodings", "our 96-bit collisions",
                       "insert s (srd / ours)"])
    n = 10 ** 10
    print()
    print(f"Expected colliding pairs with {8 * KEPT_BYTES} stored bits at 10^10 URLs: "
          f"n^2/2^{8 * KEPT_BYTES + 1} = {n * n / 2 ** (8 * KEPT_BYTES + 1):.2e}")
    print("Bloom mode: not measured (the engine does not implement one yet).")
    print()
    print(f"Reproduce: {command_line(args)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
