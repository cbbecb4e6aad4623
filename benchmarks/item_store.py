"""The Redis item store before and after compact records: bytes and CPU per item.

On one private ``redis-server``, interleaved ``--repeat`` times, after ``FLUSHALL``:

* **before**: the item store of 2026-12-03 (``main`` at 396b7c9): ``store_items.lua`` as
  it was (kept verbatim below), one big hash ``item_keys`` of 24-hex keys -> stream id;
* **after**: ``crawler.items.stream.ItemStore`` as it is: 12 bytes of SHA1 in 2^16
  bucket hashes (``crawler.items.records``), the stream id packed in one integer;
* **after, trimmed**: the same, then every item trimmed as a durable store would
  (``stream.trim``): the records stay, with empty values.

``--items`` items shaped like the ``site`` spider's (url, status, title, a 200-character
text excerpt, links, fetched_at, latency) go through ``ItemStore.add``, ``--concurrency``
at a time (the pipeline's gathering makes them batches). Bytes/item: ``used_memory``
delta / items, split into the stream and the records (``used_memory`` again after
deleting the stream). CPU/item: this process's CPU (``time.process_time``) and Redis's
(``INFO cpu``) over the stores, divided by the items. Medians of the runs.

Usage::

    python benchmarks/item_store.py [--items 200000] [--repeat 3] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # `python benchmarks/x.py` puts benchmarks/ first on the path

import redis  # noqa: E402
import redis.asyncio  # noqa: E402

from crawler.frontier.scripts import Script  # noqa: E402
from crawler.items import stream  # noqa: E402
from crawler.items.records import digest, open_records  # noqa: E402
from crawler.items.stream import ItemStore  # noqa: E402
from crawler.redis.keys import CrawlKeys  # noqa: E402

KEYS = CrawlKeys("crawl", "bench")
BEFORE_LUA = """
local stored, dups = 0, 0
for i = 1, #ARGV, 2 do
  if redis.call('HEXISTS', KEYS[2], ARGV[i]) == 1 then
    dups = dups + 1
  else
    local id = redis.call('XADD', KEYS[1], '*', 'item', ARGV[i + 1])
    redis.call('HSET', KEYS[2], ARGV[i], id)
    stored = stored + 1
  end
end
if stored > 0 then redis.call('HINCRBY', KEYS[3], 'items', stored) end
if dups > 0 then redis.call('HINCRBY', KEYS[3], 'item_duplicates', dups) end
return {stored, dups}
"""


BEFORE = Script("store_items before", BEFORE_LUA)  # run by EVALSHA, as the real one was


class BeforeItemStore(ItemStore):
    """The item store as it was: hex keys in one hash, ``BEFORE_LUA``."""

    async def _write(self) -> None:
        while self._pending:
            await asyncio.sleep(self.gather)
            batch = list(self._pending)
            args = [part for key, data, _ in batch for part in (key.hex(), data.decode())]
            await BEFORE.run(self.client, [self.keys.items, self.keys.item_keys,
                                           self.keys.stats], args)
            del self._pending[:len(batch)]
            for _, _, done in batch:
                done.set_result(None)


def site_item(i: int) -> dict[str, Any]:
    words = " ".join(f"word{(i * 7 + k) % 997}" for k in range(40))
    return {"url": f"http://127.0.0.1:8000/page?id={i}&lang=en", "status": 200,
            "title": f"Page {i}", "text": words[:200], "links": 10,
            "fetched_at": "2026-12-03T12:00:00+00:00", "latency": 0.0123}


def redis_cpu(client: redis.Redis) -> float:
    info: dict[str, Any] = client.info("cpu")  # type: ignore[assignment]
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])  # type: ignore[index]


async def store_all(url: str, variant: str, items: list[dict[str, Any]],
                    concurrency: int) -> None:
    client = redis.asyncio.Redis.from_url(url)
    try:
        records = await open_records(client, KEYS, 16)
        await client.script_load(BEFORE.text)  # not among the scripts Script.run reloads
        store = (BeforeItemStore if variant == "before" else ItemStore)(client, records, "url")
        for start in range(0, len(items), concurrency):
            await asyncio.gather(*(store.add(i) for i in items[start:start + concurrency]))
        if variant == "after, trimmed":
            keys = [digest(i, "url") for i in items]
            for start in range(0, len(keys), 500):  # as PostgreSQL batches commit
                await stream.trim(client, records, keys[start:start + 500])
    finally:
        await client.aclose()


def measure(url: str, variant: str, items: list[dict[str, Any]],
            concurrency: int) -> dict[str, float]:
    client = redis.Redis.from_url(url)
    client.flushall()
    base, cpu, redis_before = used_memory(client), time.process_time(), redis_cpu(client)
    asyncio.run(store_all(url, variant, items, concurrency))
    client_cpu, server_cpu = time.process_time() - cpu, redis_cpu(client) - redis_before
    total = used_memory(client) - base
    client.delete(KEYS.items)
    records = used_memory(client) - base
    n = len(items)
    return {"total": total / n, "stream": (total - records) / n, "records": records / n,
            "client_us": client_cpu / n * 1e6, "redis_us": server_cpu / n * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--redis-server", default="redis-server")
    args = parser.parse_args()
    server = shutil.which(args.redis_server)
    if server is None:
        sys.exit(f"{args.redis_server} not found: apt-get install -y redis-server")
    items = [site_item(i) for i in range(args.items)]
    size = statistics.mean(len(json.dumps(i, ensure_ascii=False)) for i in items)
    variants = ("before", "after", "after, trimmed")
    runs: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory() as folder:
        sock = f"{folder}/redis.sock"
        proc = subprocess.Popen([server, "--port", "0", "--unixsocket", sock, "--save", "",
                                 "--appendonly", "no"], stdout=subprocess.DEVNULL)
        try:
            url = f"unix://{sock}"
            while not Path(sock).exists():
                time.sleep(0.05)
            version = redis.Redis.from_url(url).info("server")["redis_version"]
            for _ in range(args.repeat):
                for variant in variants:
                    runs[variant].append(measure(url, variant, items, args.concurrency))
        finally:
            proc.terminate()
            proc.wait()
    print(f"{args.items:,} items of {size:.0f} B of JSON, redis-server {version}, "
          f"medians of {args.repeat} interleaved runs")
    print("| variant | B/item | stream | once-per-key record | client CPU us/item "
          "| Redis CPU us/item |")
    print("|---|---:|---:|---:|---:|---:|")
    for variant in variants:
        m = {k: statistics.median(r[k] for r in runs[variant]) for k in runs[variant][0]}
        print(f"| {variant} | {m['total']:.1f} | {m['stream']:.1f} | {m['records']:.1f} | "
              f"{m['client_us']:.1f} | {m['redis_us']:.1f} |")


if __name__ == "__main__":
    main()
