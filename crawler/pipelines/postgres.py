"""Keep items in PostgreSQL: one row per item key, upserted in batches.

    POSTGRES_DSN=postgresql://user:password@db:5432/items scrapy crawl site

The table (``POSTGRES_TABLE``, created if missing) holds the item as JSONB plus its url,
crawl, item key and fetch time; a page fetched again (after a crash, or in a new crawl)
updates its row. This pipeline runs after ``RedisItemStorePipeline``, so every item it
sees is already kept in the crawl's Redis item store: while PostgreSQL is down, items
wait in a bounded local buffer (then the crawl waits) and are retried; a node that stops
with items unwritten says how many and how to load them from Redis
(``scrapy export NAME --postgres --since CURSOR``, which runs
``crawler.items.postgres_table.backfill``). With ``ITEMS_TRIM_COMMITTED`` (the default)
the items of each committed batch leave the Redis stream (their once-only records stay):
Redis holds what is not committed yet. A crash between commit and trim leaves extra items
in Redis, never fewer.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import redis
from itemadapter import ItemAdapter
from redis.asyncio import Redis as AsyncRedis
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.statscollectors import StatsCollector

from crawler.errors import CrawlerError
from crawler.items import stream
from crawler.items.config import ItemsConfig, PostgresConfig
from crawler.items.postgres_table import (
    MAX_BACKOFF,
    WARN_EVERY,
    WRITE_TIMEOUT,
    ItemTable,
    Row,
    bad_data,
    connect_options,
    describe,
    scrub,
    to_row,
)
from crawler.items.records import ItemRecords, open_records
from crawler.redis import connection
from crawler.redis.config import RedisConfig
from crawler.redis.keys import CrawlKeys

if TYPE_CHECKING:  # imported where used: a node without PostgreSQL never loads it
    import psycopg

logger = logging.getLogger(__name__)


class PostgresPipeline:
    """Upserts every item into the PostgreSQL table, in batches, off the engine's way:
    ``process_item`` returns once the item is in the local buffer (the item is kept in
    Redis already), and waits only while the buffer is full."""

    trims_committed = True  # it trims from Redis what it commits (the item store's FEEDS
    # trim stands aside for it)

    def __init__(self, config: PostgresConfig, dsn: str, items: ItemsConfig, redis: RedisConfig,
                 keys: CrawlKeys, stats: StatsCollector, stopping: Callable[[], bool]) -> None:
        """``dsn``: ``config.dsn``, given (the pipeline is off without one)."""
        self.config = config
        self.dsn = dsn
        self.items = items
        self.redis = redis
        self.where = describe(dsn)
        self.keys = keys
        self.stats = stats
        self.stopping = stopping  # True once the node was told to stop (Ctrl-C)
        self.table = ItemTable(config.table)
        self.pending: dict[str, Row] = {}  # item key -> row, oldest first
        self.space = asyncio.Event()
        self.closing = False
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._down_since: float | None = None
        self._warned = 0.0
        self._redis: AsyncRedis | None = None
        self._records: ItemRecords | None = None  # set when committed items are trimmed

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PostgresPipeline:
        """On only when ``POSTGRES_DSN`` is set."""
        config = PostgresConfig.from_settings(crawler.settings)
        if config.dsn is None:
            raise NotConfigured
        assert crawler.spidercls is not None and crawler.stats is not None
        redis = RedisConfig.from_settings(crawler.settings)
        keys = CrawlKeys(redis.key_prefix, crawler.spidercls.name, redis.start_urls_key)
        return cls(config, config.dsn, ItemsConfig.from_settings(crawler.settings), redis, keys,
                   crawler.stats, lambda: not crawler.crawling)

    async def open_spider(self) -> None:
        """Connect and create the table; if PostgreSQL cannot be used yet, say why and go on
        (the items wait for it)."""
        if self.items.trim_committed:
            self._redis = await connection.async_client(self.redis,
                                                        connection.resolve_url(self.redis))
            self._records = await open_records(self._redis, self.keys, self.items.bucket_bits)
        try:
            await asyncio.wait_for(self._connect(), WRITE_TIMEOUT)
        except Exception as exc:
            self._outage(exc)
        else:
            logger.info("Items of crawl %r go to PostgreSQL at %s, table %s", self.keys.crawl,
                        self.where, self.table.name)

    async def process_item(self, item: Any) -> Any:
        fields = ItemAdapter(item).asdict()
        row = to_row(fields)
        while len(self.pending) >= self.config.buffer_items and not self.stopping():
            self.space.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.space.wait(), 0.5)
        self.pending[stream.item_key(fields, self.items.key_field)] = row
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write())
        return item

    async def close_spider(self) -> None:
        """Write what waits, for at most ``POSTGRES_CLOSE_TIMEOUT`` seconds; report the rest."""
        self.closing = True
        writer = self._writer
        if writer is not None and not writer.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(writer),
                                       self.config.close_timeout)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        await self._disconnect()
        if self.pending:
            await self._report_unwritten()

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        import psycopg
        if self._conn is None:
            conn = await psycopg.AsyncConnection.connect(self.dsn, **connect_options(self.dsn))
            try:
                await self.table.create(conn)
            except BaseException:
                await conn.close()
                raise
            self._conn = conn
        return self._conn

    async def _disconnect(self) -> None:
        import psycopg
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error, OSError):
                await conn.close()

    async def _write(self) -> None:
        """Write the buffer, a batch at a time, until it is empty; retry while down."""
        backoff = 0.0
        while self.pending:
            await asyncio.sleep(min(backoff, 1.0) if self.closing else backoff)
            batch = list(itertools.islice(self.pending.items(), self.config.batch_size))
            try:
                refused = await asyncio.wait_for(self._upsert(batch), WRITE_TIMEOUT)
            except Exception as exc:
                await self._disconnect()
                backoff = min(MAX_BACKOFF, max(0.25, backoff * 2))
                self._outage(exc)
                continue
            backoff = 0.0
            if self._down_since is not None:
                logger.info("PostgreSQL at %s is back after %.1f s", self.where,
                            time.monotonic() - self._down_since)
                self._down_since = None
            for key, row in batch:  # a newer copy that came meanwhile stays to be written
                if self.pending.get(key) is row:
                    del self.pending[key]
            self.stats.inc_value("postgres/items_written", len(batch) - len(refused))
            if self._redis is not None and self._records is not None:
                await stream.trim_committed(
                    self._redis, self._records,
                    [bytes.fromhex(key) for key, _ in batch if key not in refused],
                    f"PostgreSQL at {self.where}")
            if len(self.pending) < self.config.buffer_items:
                self.space.set()

    async def _upsert(self, batch: list[tuple[str, Row]]) -> set[str]:
        """Write the batch; if its data is refused, each item alone. Returns the keys of the
        items refused (they stay in the Redis item store only)."""
        conn = await self._connect()
        try:
            await self.table.upsert(conn, self.keys.crawl, batch)
            return set()
        except Exception as exc:
            if not bad_data(exc):
                raise
        refused: set[str] = set()
        for key, row in batch:  # find the items refused, write the others
            try:
                await self.table.upsert(conn, self.keys.crawl, [(key, row)])
            except Exception as exc:
                if not bad_data(exc):
                    raise
                refused.add(key)
                self.stats.inc_value("postgres/items_refused")
                logger.error("PostgreSQL refused the item %s (%s): %s; it stays in the Redis "
                             "item store only", key, row[0], scrub(exc, self.dsn))
        return refused

    def _outage(self, exc: BaseException) -> None:
        now = time.monotonic()
        if self._down_since is None:
            self._down_since = now
        elif now - self._warned < WARN_EVERY:
            return
        self._warned = now
        logger.warning("PostgreSQL at %s cannot take items (%s); %d wait in memory (at most %d, "
                       "then the crawl waits for it), retrying", self.where,
                       scrub(exc, self.dsn), len(self.pending), self.config.buffer_items)

    async def _report_unwritten(self) -> None:
        count = len(self.pending)
        self.stats.set_value("postgres/items_unwritten", count)
        command = f"scrapy export {self.keys.crawl} --postgres"
        try:
            client = await connection.async_client(self.redis, connection.resolve_url(self.redis))
            records = self._records or await open_records(client, self.keys,
                                                          self.items.bucket_bits)
            cursor, missing = await stream.locate(client, records,
                                                  [bytes.fromhex(k) for k in self.pending])
        except (CrawlerError, redis.RedisError, OSError) as exc:
            logger.error("%d items were not written to PostgreSQL at %s before this node "
                         "stopped; they are kept in the Redis item store %s. Load them with: "
                         "%s (Redis did not say from where: %s)", count, self.where,
                         self.keys.items, command, exc)
            return
        if cursor is not None and cursor != stream.START:
            command += f" --since {cursor}"
        logger.error("%d items were not written to PostgreSQL at %s before this node stopped; "
                     "they are kept in the Redis item store %s. Load them with: %s", count,
                     self.where, self.keys.items, command)
        if missing:
            logger.error("%d of them are not in the Redis item store either: put crawler."
                         "pipelines.redis_store.RedisItemStorePipeline before this pipeline",
                         missing)
