"""Items leave Redis once a durable store has them: PostgreSQL, Scrapy's FEEDS, an export
with ``--trim``; nothing uncommitted goes, and a crash between commit and trim loses
nothing. Real ``scrapy`` processes, a real Redis and the machine's PostgreSQL (the one
tests/test_postgres.py uses: ``TEST_POSTGRES_DSN``; skipped without one)."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
import redis.asyncio
from psycopg import sql
from psycopg.conninfo import make_conninfo

from crawler.items import stream
from crawler.items.records import digest, open_records
from crawler.items.stream import ItemStore, item_key
from crawler.redis.keys import CrawlKeys
from tests.conftest import Site, run_scrapy, start_node, wait_all
from tests.helpers import expected_titles

ADMIN_DSN = os.environ.get("TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
KEYS = CrawlKeys("crawl", "site")
SLOW = {"CONCURRENT_REQUESTS": "1", "DOWNLOAD_DELAY": "0.1"}  # ~10 pages/s: time to act


@pytest.fixture(scope="module")
def dsn() -> Iterator[str]:
    """A throwaway database, dropped at the end."""
    try:
        with psycopg.connect(ADMIN_DSN, autocommit=True, connect_timeout=2) as admin:
            name = f"crawler_test_{secrets.token_hex(4)}"
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL at {ADMIN_DSN} (TEST_POSTGRES_DSN): {exc}")
    yield make_conninfo(ADMIN_DSN, dbname=name)
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


def row_keys(dsn: str) -> dict[str, str]:
    """item_key -> title of the rows in the table (none while it is missing)."""
    try:
        with psycopg.connect(dsn, connect_timeout=2) as conn:
            found = conn.execute("SELECT item_key, item->>'title' FROM crawl_items").fetchall()
    except psycopg.errors.UndefinedTable:
        return {}
    return dict(found)


def kept(client: redis.Redis) -> dict[str, str]:
    """item_key -> title of the items the Redis stream holds."""
    items = [json.loads(f[b"item"]) for _, f in client.xrange(KEYS.items)]
    return {item_key(i, "url"): i["title"] for i in items}


def seed(redis_url: str, site: Site) -> None:
    assert run_scrapy(redis_url, "seed", "site", "-", stdin=site.page(0) + "\n").returncode == 0


def test_a_node_killed_between_commit_and_trim_loses_nothing(
        redis_url: str, client: redis.Redis, small_site: Site, dsn: str, tmp_path: Path) -> None:
    seed(redis_url, small_site)
    node = start_node(redis_url, tmp_path / "node.log", POSTGRES_DSN=dsn, **SLOW)
    deadline = time.monotonic() + 60
    while len(row_keys(dsn)) < 5:
        assert node.poll() is None and time.monotonic() < deadline, \
            (tmp_path / "node.log").read_text()[-3000:]
        time.sleep(0.1)
    with psycopg.connect(dsn) as blocker:  # PostgreSQL holds the writes: items pile up
        blocker.execute("LOCK TABLE crawl_items IN ACCESS EXCLUSIVE MODE")
        counted = blocker.execute("SELECT count(*) FROM crawl_items").fetchone()
        locked_rows = counted[0] if counted else 0
        waiting = client.xlen(KEYS.items)
        while client.xlen(KEYS.items) < waiting + 10:
            time.sleep(0.05)
        client.execute_command("CLIENT", "PAUSE", "30000", "WRITE")  # the trim will wait
        blocker.commit()  # now the batch that waited is committed...
    try:
        deadline = time.monotonic() + 30
        while len(row_keys(dsn)) <= locked_rows:
            assert time.monotonic() < deadline, "the batch was not committed"
            time.sleep(0.05)
        time.sleep(0.5)
        node.send_signal(signal.SIGKILL)  # ... and its trim never runs
        node.wait()
    finally:
        client.execute_command("CLIENT", "UNPAUSE")
    rows, stored = row_keys(dsn), kept(client)
    assert set(rows) & set(stored), "no committed item was left untrimmed: the kill missed"
    recorded = int(client.hget(KEYS.stats, "items") or 0)
    assert len(set(rows) | set(stored)) == recorded, "an item stored in Redis is gone"

    restarted = start_node(redis_url, tmp_path / "again.log", POSTGRES_DSN=dsn)
    assert wait_all([restarted]) == [0]
    loaded = run_scrapy(redis_url, "export", "site", "--postgres",
                        settings={"POSTGRES_DSN": dsn})  # what the killed node left
    assert loaded.returncode == 0, loaded.stderr
    assert Counter(row_keys(dsn).values()) == expected_titles(small_site.pages)
    assert client.xlen(KEYS.items) == 0


def test_feed_files_trim_what_they_stored(redis_url: str, client: redis.Redis,
                                          small_site: Site, tmp_path: Path) -> None:
    seed(redis_url, small_site)
    feeds = {str(tmp_path / "feed-%(batch_id)d.jsonl"): {"format": "jsonlines"}}
    node = start_node(redis_url, tmp_path / "node.log", FEEDS=json.dumps(feeds),
                      FEED_EXPORT_BATCH_ITEM_COUNT="30")
    peak = 0
    while node.poll() is None:
        peak = max(peak, client.xlen(KEYS.items))
        time.sleep(0.05)
    assert node.wait() == 0
    files = sorted(tmp_path.glob("feed-*.jsonl"))
    assert len(files) == 7  # 6 of 30 items, and the rest when the crawl ended
    titles = Counter(json.loads(line)["title"]
                     for f in files for line in f.read_text().splitlines())
    assert titles == expected_titles(small_site.pages)
    assert client.xlen(KEYS.items) == 0, "items of stored feed files stayed in Redis"
    assert peak < small_site.pages
    assert client.hget(KEYS.stats, "items") == str(small_site.pages).encode()


def test_a_feed_that_fails_to_store_trims_nothing(redis_url: str, client: redis.Redis,
                                                  small_site: Site, tmp_path: Path) -> None:
    seed(redis_url, small_site)
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")  # its "files" cannot be created
    feeds = {str(blocked / "feed-%(batch_id)d.jsonl"): {"format": "jsonlines"}}
    node = start_node(redis_url, tmp_path / "node.log", FEEDS=json.dumps(feeds),
                      FEED_EXPORT_BATCH_ITEM_COUNT="30")
    assert wait_all([node]) == [0]
    assert Counter(kept(client).values()) == expected_titles(small_site.pages)


async def store_items(redis_url: str, items: list[dict[str, Any]]) -> None:
    async_client = redis.asyncio.Redis.from_url(redis_url)
    try:
        records = await open_records(async_client, KEYS, 16)
        store = ItemStore(async_client, records, "url")
        for item in items:
            await store.add(item)
    finally:
        await async_client.aclose()


async def trim_items(redis_url: str, items: list[dict[str, Any]]) -> None:
    async_client = redis.asyncio.Redis.from_url(redis_url)
    try:
        records = await open_records(async_client, KEYS, 16)
        await stream.trim(async_client, records, [digest(i, "url") for i in items])
    finally:
        await async_client.aclose()


def export(redis_url: str, target: Path, *extra: str) -> tuple[list[str], str, str]:
    """The titles exported, the cursor printed, and what the command said on stderr."""
    done = run_scrapy(redis_url, "export", "site", "-o", str(target), *extra)
    assert done.returncode == 0, done.stderr
    cursor = done.stdout.strip().splitlines()[-1].split()[2]
    titles = [json.loads(line)["title"] for line in target.read_text().split("\n") if line]
    return titles, cursor, done.stderr


def test_export_since_after_a_trim_exports_what_is_kept_and_says_so(
        redis_url: str, client: redis.Redis, tmp_path: Path) -> None:
    items = [{"url": f"https://a.test/{i}", "title": f"Page {i}"} for i in range(10)]
    asyncio.run(store_items(redis_url, items[:4]))
    _, cursor, said = export(redis_url, tmp_path / "first.jsonl")
    assert said == ""
    asyncio.run(store_items(redis_url, items[4:]))
    asyncio.run(trim_items(redis_url, items[5:7]))  # committed by a durable store
    titles, _, said = export(redis_url, tmp_path / "next.jsonl", "--since", cursor)
    assert titles == ["Page 4", "Page 7", "Page 8", "Page 9"]
    assert "were trimmed from Redis once a durable store" in said
    assert "(2 trimmed in all" in said and "only the items still kept" in said
    _, _, said = export(redis_url, tmp_path / "later.jsonl", "--since",
                        client.xrevrange(KEYS.items, count=1)[0][0].decode())
    assert said == "", "nothing after that cursor was trimmed"


def test_export_trim_empties_what_the_file_holds(redis_url: str, client: redis.Redis,
                                                 tmp_path: Path) -> None:
    items = [{"url": f"https://a.test/{i}", "title": f"Page {i}"} for i in range(2500)]
    asyncio.run(store_items(redis_url, items[:1500]))
    titles, cursor, _ = export(redis_url, tmp_path / "a.jsonl", "--trim")
    assert len(titles) == 1500 and client.xlen(KEYS.items) == 0
    asyncio.run(store_items(redis_url, items))  # 1,000 new; the first 1,500 are still stored
    titles, _, said = export(redis_url, tmp_path / "b.jsonl", "--since", cursor, "--trim")
    assert titles == [i["title"] for i in items[1500:]] and said == ""
    assert client.xlen(KEYS.items) == 0
