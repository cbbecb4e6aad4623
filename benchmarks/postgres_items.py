"""Items/s into PostgreSQL: the batching pipeline vs one INSERT per item.

Feeds the same items (shaped like the ``site`` spider's: url, title, a 300-character text
excerpt, status, links, fetch time) as fast as it can to:

* ``one INSERT per item``: what a plain pipeline does, ``INSERT ... ON CONFLICT DO UPDATE``
  awaited in ``process_item``, autocommit (one transaction an item);
* ``pipelines.postgres.PostgresPipeline`` with ``POSTGRES_BATCH_SIZE`` 1, 100, 500 (the
  default) and 2000: ``process_item`` only buffers, a task upserts a batch a statement.

Each runs on a new table (every item an INSERT), then again over the same rows (every item
an UPDATE, as a re-crawl does). The clock runs from the first item given to the pipeline
to the end of ``close_spider``, when every row is committed. Runs are interleaved and
repeated; the table shows medians. It works in a throwaway database that it drops.

    python benchmarks/postgres_items.py [--items 10000] [--repeat 3]
        [--dsn postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # `python benchmarks/postgres_items.py` puts benchmarks/ first

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402
from psycopg.conninfo import make_conninfo  # noqa: E402
from scrapy.settings import Settings  # noqa: E402
from scrapy.statscollectors import MemoryStatsCollector  # noqa: E402
from scrapy.utils.test import get_crawler  # noqa: E402

from crawler.items.config import ItemsConfig, PostgresConfig  # noqa: E402
from crawler.items.postgres_table import ItemTable, connect_options, to_row  # noqa: E402
from crawler.items.stream import item_key  # noqa: E402
from crawler.redis.config import RedisConfig  # noqa: E402
from crawler.redis.keys import CrawlKeys  # noqa: E402
from pipelines.postgres import PostgresPipeline  # noqa: E402

KEYS = CrawlKeys("crawl", "bench")
BATCHES = (1, 100, 500, 2000)
NAIVE = "one INSERT per item"


def make_items(count: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC).isoformat(timespec="seconds")
    return [{"url": f"http://127.0.0.1:8000/page?id={i}", "status": 200, "title": f"Page {i}",
             "text": (f"Text of page {i}. " + "lorem ipsum dolor sit amet " * 12)[:300],
             "links": 10, "fetched_at": now, "latency": 0.0123} for i in range(count)]


class OneInsertPerItem:
    """The plain pipeline: one upsert a ``process_item``, awaited, autocommit."""

    def __init__(self, dsn: str, table: ItemTable) -> None:
        self.dsn = dsn
        self.table = table
        self.statement = sql.SQL(
            "INSERT INTO {} (crawl, item_key, url, fetched_at, item) VALUES (%s, %s, %s, %s, "
            "%s::jsonb) ON CONFLICT (crawl, item_key) DO UPDATE SET url = excluded.url, "
            "fetched_at = excluded.fetched_at, item = excluded.item, updated_at = now()"
        ).format(sql.Identifier(*table.name.split(".")))
        self.conn: psycopg.AsyncConnection[Any] | None = None

    async def open_spider(self) -> None:
        self.conn = await psycopg.AsyncConnection.connect(self.dsn, **connect_options(self.dsn))
        await self.table.create(self.conn)

    async def process_item(self, item: dict[str, Any]) -> dict[str, Any]:
        assert self.conn is not None
        url, when, data = to_row(item)
        await self.conn.execute(self.statement, [KEYS.crawl, item_key(item, "url"), url, when,
                                                 data])
        return item

    async def close_spider(self) -> None:
        assert self.conn is not None
        await self.conn.close()


def pipeline(variant: str, dsn: str, table: str) -> Any:
    if variant == NAIVE:
        return OneInsertPerItem(dsn, ItemTable((table,)))
    settings = Settings({"POSTGRES_DSN": dsn, "POSTGRES_TABLE": table,
                         "POSTGRES_BATCH_SIZE": variant, "POSTGRES_CLOSE_TIMEOUT": 3600,
                         "ITEMS_TRIM_COMMITTED": False})  # no Redis here: PostgreSQL alone
    stats = MemoryStatsCollector(get_crawler())
    return PostgresPipeline(PostgresConfig.from_settings(settings), dsn,
                            ItemsConfig.from_settings(settings),
                            RedisConfig.from_settings(settings), KEYS, stats, lambda: False)


async def run(variant: str, dsn: str, table: str, items: list[dict[str, Any]]) -> float:
    """Items/s of one pass of ``items`` through a new pipeline of ``variant``."""
    component = pipeline(variant, dsn, table)
    await component.open_spider()
    started = time.perf_counter()
    for item in items:
        await component.process_item(item)
    await component.close_spider()
    elapsed = time.perf_counter() - started
    with psycopg.connect(dsn) as conn:
        found = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
            sql.Identifier(table))).fetchone()
    assert found is not None and found[0] == len(items), f"{variant}: {found} rows"
    return len(items) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="a role that may create databases")
    args = parser.parse_args()
    variants = [NAIVE, *(str(b) for b in BATCHES)]
    items = make_items(args.items)
    name = f"crawler_bench_{secrets.token_hex(4)}"
    with psycopg.connect(args.dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = make_conninfo(args.dsn, dbname=name)
    inserts: dict[str, list[float]] = {v: [] for v in variants}
    updates: dict[str, list[float]] = {v: [] for v in variants}
    try:
        for round_ in range(args.repeat):
            for i, variant in enumerate(variants):
                table = f"bench_{round_}_{i}"
                inserts[variant].append(asyncio.run(run(variant, dsn, table, items)))
                updates[variant].append(asyncio.run(run(variant, dsn, table, items)))
                print(f"round {round_ + 1}/{args.repeat} {variant}: "
                      f"{inserts[variant][-1]:,.0f} / {updates[variant][-1]:,.0f} items/s",
                      file=sys.stderr, flush=True)
    finally:
        with psycopg.connect(args.dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))
    base_in = statistics.median(inserts[NAIVE])
    base_up = statistics.median(updates[NAIVE])
    with psycopg.connect(args.dsn) as conn:
        version = conn.info.server_version // 10000
    print(f"\n{args.items:,} items, median of {args.repeat} runs; PostgreSQL {version} on "
          "this machine, same host\n")
    print("| writer | new rows, items/s | vs one INSERT | re-crawl (updates), items/s "
          "| vs one INSERT |")
    print("|---|---:|---:|---:|---:|")
    for variant in variants:
        label = NAIVE if variant == NAIVE else (
            f"`PostgresPipeline`, batch {variant}" + (" (default)" if variant == "500" else ""))
        ins, up = statistics.median(inserts[variant]), statistics.median(updates[variant])
        print(f"| {label} | {ins:,.0f} | {ins / base_in:.1f}x | {up:,.0f} | "
              f"{up / base_up:.1f}x |")


if __name__ == "__main__":
    main()
