"""The PostgreSQL item pipeline against the machine's real PostgreSQL server.

The server answering at ``TEST_POSTGRES_DSN`` (default: postgres on 127.0.0.1:5432) is
used, or started with ``pg_ctlcluster`` when it is installed but not running; without
either, these tests are skipped and say why. Each run works in a throwaway database
``crawler_test_<random>`` that it drops at the end.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from scrapy.statscollectors import MemoryStatsCollector
from scrapy.utils.test import get_crawler

from crawler.items.config import ItemsConfig, PostgresConfig
from crawler.items.postgres_table import describe
from crawler.items.stream import item_key
from crawler.pipelines.postgres import PostgresPipeline
from crawler.redis import connection
from crawler.redis.config import RedisConfig
from crawler.redis.keys import CrawlKeys
from tests.conftest import Site, free_port, run_scrapy, start_node, wait_all
from tests.helpers import expected_titles

ADMIN_DSN = os.environ.get("TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
KEYS = CrawlKeys("crawl", "site")
PASSWORD = "pg-s3cret-never-logged"  # trust auth takes any password; none may reach a log


def connect_error(dsn: str) -> str | None:
    """Why ``dsn`` cannot be used (None: it can)."""
    try:
        with psycopg.connect(dsn, connect_timeout=2):
            return None
    except psycopg.OperationalError as exc:
        return " ".join(str(exc).split())


def answers(dsn: str) -> bool:
    return connect_error(dsn) is None


def cluster_command(action: str) -> None:
    """Start or stop the machine's cluster (``pg_ctlcluster VERSION main ACTION``)."""
    version = sorted(os.listdir("/etc/postgresql"), key=lambda v: float(v))[-1]
    extra = ["-m", "fast"] if action == "stop" else []
    done = subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action,
                           *extra], capture_output=True, text=True, timeout=60)
    if done.returncode and "already running" not in done.stderr:
        pytest.fail(f"pg_ctlcluster {version} main {action}: {done.stderr.strip()}")


def can_restart() -> bool:
    """Whether the server of TEST_POSTGRES_DSN is this machine's cluster, which we can start."""
    host = str(conninfo_to_dict(ADMIN_DSN).get("host") or "/")
    local = host in ("127.0.0.1", "localhost", "::1") or host.startswith("/")
    return local and shutil.which("pg_ctlcluster") is not None and os.path.isdir(
        "/etc/postgresql")


def wait_until_answers(timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while (error := connect_error(ADMIN_DSN)) is not None:
        if time.monotonic() > deadline:
            pytest.fail(f"PostgreSQL at {ADMIN_DSN} (TEST_POSTGRES_DSN) cannot be used after "
                        f"{timeout} s: {error}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def postgres_db() -> Iterator[str]:
    """The DSN of a throwaway database (with a password that must never be logged)."""
    if not answers(ADMIN_DSN):
        if not can_restart():
            pytest.skip(f"no PostgreSQL: nothing answers at {ADMIN_DSN} (TEST_POSTGRES_DSN) and "
                        "no server binaries (pg_ctlcluster) to start one")
        cluster_command("start")
        wait_until_answers()
    name = f"crawler_test_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    password = conninfo_to_dict(ADMIN_DSN).get("password") or PASSWORD
    yield make_conninfo(ADMIN_DSN, dbname=name, password=password)
    if not answers(ADMIN_DSN) and can_restart():
        cluster_command("start")  # a test that stopped the server failed before restarting it
        wait_until_answers()
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


@pytest.fixture
def dsn(postgres_db: str) -> str:
    """The throwaway database, without the item table."""
    with psycopg.connect(postgres_db, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS crawl_items")
    return postgres_db


def rows(dsn: str) -> list[dict[str, Any]]:
    with psycopg.connect(dsn) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute("SELECT * FROM crawl_items ORDER BY url").fetchall()


def count_rows(dsn: str) -> int:
    """Rows in the table; 0 while PostgreSQL or the table is not there."""
    try:
        with psycopg.connect(dsn, connect_timeout=2) as conn:
            found = conn.execute("SELECT count(*) FROM crawl_items").fetchone()
            return int(found[0]) if found else 0
    except psycopg.Error:
        return 0


def titles(table: list[dict[str, Any]]) -> list[str]:
    return sorted(row["item"]["title"] for row in table)


def crawl(redis_url: str, site: Site, folder: Path, nodes: int = 1, **settings: str) -> str:
    """Seed the site, run ``nodes`` nodes to the crawl's end; returns their logs, joined."""
    run_scrapy(redis_url, "seed", "site", "-", stdin=site.page(0) + "\n")
    logs = [folder / f"node{i}.log" for i in range(nodes)]
    started = [start_node(redis_url, log, **settings) for log in logs]
    assert wait_all(started) == [0] * nodes
    return "".join(log.read_text() for log in logs)


def test_a_crawl_lands_every_page_exactly_once(redis_url: str, client: redis.Redis,
                                               small_site: Site, dsn: str, tmp_path: Path) -> None:
    text = crawl(redis_url, small_site, tmp_path, nodes=2, POSTGRES_DSN=dsn,
                 POSTGRES_BATCH_SIZE="50")
    table = rows(dsn)
    assert titles(table) == sorted(expected_titles(small_site.pages).elements())
    assert len({row["url"] for row in table}) == small_site.pages
    for row in table:
        assert row["crawl"] == "site"
        assert row["item_key"] == item_key(row["item"], "url")
        assert row["url"] == row["item"]["url"]
        assert row["fetched_at"].isoformat() == row["item"]["fetched_at"]
    assert client.xlen(KEYS.items) == 0  # every item committed: trimmed from Redis
    assert client.hget(KEYS.stats, "items") == str(small_site.pages).encode()
    status = json.loads(run_scrapy(redis_url, "status", "site", "--json").stdout)
    assert (status["items"], status["items_in_redis"]) == (small_site.pages, 0)
    assert f"Items of crawl 'site' go to PostgreSQL at {describe(dsn)}, table crawl_items" in text
    secret = str(conninfo_to_dict(dsn)["password"])
    assert PASSWORD not in text and f":{secret}@" not in text and f"={secret}" not in text
    assert "'postgres/items_written'" in text and " ERROR: " not in text


def test_a_recrawl_updates_rows(redis_url: str, client: redis.Redis, small_site: Site, dsn: str,
                                tmp_path: Path) -> None:
    (tmp_path / "first").mkdir()
    crawl(redis_url, small_site, tmp_path / "first", POSTGRES_DSN=dsn)
    first = {row["item_key"] for row in rows(dsn)}
    with psycopg.connect(dsn) as conn:
        conn.execute("UPDATE crawl_items SET item = item || '{\"title\": \"stale\"}', "
                     "fetched_at = fetched_at - interval '1 day'")
    assert run_scrapy(redis_url, "reset", "site", "--yes").returncode == 0  # a new crawl
    (tmp_path / "again").mkdir()
    crawl(redis_url, small_site, tmp_path / "again", POSTGRES_DSN=dsn,
          ITEMS_TRIM_COMMITTED="False")  # kept in Redis, to compare

    again = {item_key(json.loads(fields[b"item"]), "url"): json.loads(fields[b"item"])
             for _, fields in client.xrange(KEYS.items)}
    table = {row["item_key"]: row for row in rows(dsn)}
    assert len(again) == small_site.pages
    assert set(table) == first | set(again), "a re-crawled page got a second row"
    # (A page may be reached by another URL, ``?lang=en&id=1`` for ``?id=1&lang=en``: by
    # ITEM_KEY_FIELD=url that is another item, so most but not all rows are refreshed.)
    assert len(first & set(again)) > small_site.pages / 2
    for key, item in again.items():
        assert table[key]["item"] == item, "a re-crawled page did not update its row"


def test_postgres_restarted_mid_crawl_loses_nothing(redis_url: str, site: Site, dsn: str,
                                                    tmp_path: Path) -> None:
    if not can_restart():
        pytest.skip("restarting PostgreSQL needs the machine's own cluster and pg_ctlcluster "
                    "(Debian's postgresql-common)")
    run_scrapy(redis_url, "seed", "site", "-", stdin=site.page(0) + "\n")
    logs = [tmp_path / "node1.log", tmp_path / "node2.log"]
    nodes = [start_node(redis_url, log, POSTGRES_DSN=dsn) for log in logs]
    deadline = time.monotonic() + 120
    while count_rows(dsn) < site.pages * 0.25:
        assert time.monotonic() < deadline, "no rows in PostgreSQL after 120 s"
        time.sleep(0.1)
    try:
        cluster_command("stop")
        time.sleep(3)
    finally:
        cluster_command("start")
    wait_until_answers()
    assert wait_all(nodes) == [0, 0]
    assert titles(rows(dsn)) == sorted(expected_titles(site.pages).elements())
    text = "".join(log.read_text() for log in logs)
    assert "cannot take items" in text and "is back after" in text
    assert " ERROR: " not in text


def test_a_node_stopping_with_items_unwritten_says_how_to_load_them(
        redis_url: str, client: redis.Redis, small_site: Site, dsn: str, tmp_path: Path) -> None:
    down = make_conninfo(dsn, port=free_port())  # nothing listens there: PostgreSQL is down
    text = crawl(redis_url, small_site, tmp_path, POSTGRES_DSN=down, POSTGRES_CLOSE_TIMEOUT="1")
    assert "cannot take items" in text
    message = re.search(r"ERROR: (\d+) items were not written to PostgreSQL at \S+ before this "
                        r"node stopped; they are kept in the Redis item store crawl:\{site\}:items"
                        r"\. Load them with: (scrapy export site --postgres.*)", text)
    assert message is not None, text[-3000:]
    assert int(message[1]) == small_site.pages
    assert PASSWORD not in text
    last = client.xrevrange(KEYS.items, count=1)[0][0].decode()
    loaded = run_scrapy(redis_url, *message[2].split()[1:], settings={"POSTGRES_DSN": dsn})
    assert loaded.returncode == 0, loaded.stderr
    assert f"Upserted {small_site.pages} items of crawl 'site'" in loaded.stdout
    assert client.xlen(KEYS.items) == 0  # committed, so trimmed
    assert loaded.stdout.strip().splitlines()[-1].startswith(f"Next cursor: {last} ")
    assert titles(rows(dsn)) == sorted(expected_titles(small_site.pages).elements())


def test_ctrl_c_with_the_buffer_full_stops_and_leaves_the_items_in_redis(
        redis_url: str, client: redis.Redis, site: Site, dsn: str, tmp_path: Path) -> None:
    down = make_conninfo(dsn, port=free_port())
    run_scrapy(redis_url, "seed", "site", "-", stdin=site.page(0) + "\n")
    log = tmp_path / "node.log"
    node = start_node(redis_url, log, POSTGRES_DSN=down, POSTGRES_BUFFER_ITEMS="20",
                      POSTGRES_CLOSE_TIMEOUT="1")
    while client.xlen(KEYS.items) < 20:
        assert node.poll() is None, log.read_text()
        time.sleep(0.1)
    time.sleep(1)
    node.send_signal(signal.SIGINT)
    assert wait_all([node], timeout=30) == [0]
    stored = client.xlen(KEYS.items)
    assert 20 <= stored < site.pages
    assert f"ERROR: {stored} items were not written to PostgreSQL" in log.read_text()
    loaded = run_scrapy(redis_url, "export", "site", "--postgres",
                        settings={"POSTGRES_DSN": dsn})
    assert loaded.returncode == 0, loaded.stderr
    assert len(rows(dsn)) == stored


def test_refused_items_are_logged_and_the_rest_written(dsn: str, redis_url: str,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """In process: a NUL is left out, a lone surrogate is refused alone, a re-sent older
    copy of an item does not replace the newer row."""
    crawler = get_crawler(settings_dict={"POSTGRES_DSN": dsn, "REDIS_URL": redis_url})
    config = PostgresConfig.from_settings(crawler.settings)
    stats = MemoryStatsCollector(crawler)
    batch = [{"url": "https://a.test/nul", "text": "a\x00b"},
             {"url": "https://a.test/bad", "text": "\ud800"},
             {"url": "https://a.test/new", "fetched_at": "2030-01-01T00:00:00+00:00", "n": 2},
             {"url": "https://a.test/new", "fetched_at": "2020-01-01T00:00:00", "n": 1}]

    async def run() -> None:
        assert config.dsn is not None
        pipeline = PostgresPipeline(config, config.dsn, ItemsConfig.from_settings(crawler.settings),
                                    RedisConfig.from_settings(crawler.settings), KEYS, stats,
                                    lambda: False)
        try:
            await pipeline.open_spider()
            for item in batch[:3]:
                assert await pipeline.process_item(item) is item
            await asyncio.sleep(0.5)  # written: the last item comes in a batch of its own
            await pipeline.process_item(batch[3])
            await pipeline.close_spider()
        finally:  # the process's shared Redis clients (a node's scheduler closes them last)
            await connection.close_async_clients()

    with caplog.at_level(logging.INFO, logger="crawler.pipelines.postgres"):
        asyncio.run(run())
    table = {row["url"]: row["item"] for row in rows(dsn)}
    assert table == {"https://a.test/nul": {"url": "https://a.test/nul", "text": "ab"},
                     "https://a.test/new": batch[2]}
    assert stats.get_value("postgres/items_refused") == 1
    assert stats.get_value("postgres/items_written") == 3
    assert any("refused the item" in r.message and "https://a.test/bad" in r.message
               for r in caplog.records)
