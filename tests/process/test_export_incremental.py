"""``scrapy export NAME -o FILE --since CURSOR``: incremental, streaming exports."""

from __future__ import annotations

import asyncio
import csv
import json
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import redis
import redis.asyncio

from crawler.items.records import ItemRecords
from crawler.items.stream import START, ItemStore
from crawler.redis.keys import CrawlKeys
from tests.conftest import ROOT, Site, node_env, run_scrapy, scrapy_command, start_node
from tests.contract.test_item_store import pages, store
from tests.helpers import expected_titles

KEYS = CrawlKeys("crawl", "site")
RECORDS = ItemRecords(KEYS, 16)


def export(redis_url: str, target: Path, since: str | None = None) -> tuple[str, str]:
    """Run the export; returns its first output line and the cursor of its last line."""
    extra = ["--since", since] if since is not None else []
    result = run_scrapy(redis_url, "export", "site", "-o", str(target), *extra)
    assert result.returncode == 0, result.stderr
    summary, last = result.stdout.strip().splitlines()
    cursor = last.split()[2]
    assert last == f"Next cursor: {cursor} (scrapy export site -o FILE --since {cursor})"
    return summary, cursor


def last_id(client: redis.Redis) -> str:
    return str(client.xrevrange(KEYS.items, count=1)[0][0].decode())


def test_exports_chained_during_a_crawl_hold_every_page_once(redis_url: str, small_site: Site,
                                                             tmp_path: Path) -> None:
    run_scrapy(redis_url, "seed", "site", "-", stdin=small_site.page(0) + "\n")
    node = start_node(redis_url, tmp_path / "node.log", DOWNLOAD_DELAY="0.04")  # ~8 s
    cursor, parts = START, 0
    while True:
        running = node.poll() is None
        _, cursor = export(redis_url, tmp_path / f"part{parts}.jsonl", cursor)
        parts += 1
        if not running:
            break
        time.sleep(0.5)
    assert node.returncode == 0
    titles = Counter(json.loads(line)["title"] for i in range(parts)
                     for line in (tmp_path / f"part{i}.jsonl").read_text().splitlines())
    assert titles == expected_titles(small_site.pages)
    non_empty = sum(1 for i in range(parts) if (tmp_path / f"part{i}.jsonl").stat().st_size)
    assert non_empty >= 3, f"the crawl ended before a third export ({parts} exports)"


def test_since_exports_only_later_items_in_every_format(redis_url: str, client: redis.Redis,
                                                        tmp_path: Path) -> None:
    summary, cursor = export(redis_url, tmp_path / "none.jsonl")
    assert summary.startswith("Exported 0 items") and cursor == START
    store(client, pages(0, 5))
    summary, cursor = export(redis_url, tmp_path / "first.jsonl")
    assert summary.startswith("Exported 5 items") and cursor == last_id(client)
    store(client, pages(5, 3) + pages(0, 1))  # page 0 again: stored once, not exported again
    for ext in ("jsonl", "json", "csv", "xml"):
        summary, after = export(redis_url, tmp_path / f"second.{ext}", cursor)
        assert summary.startswith("Exported 3 items") and after == last_id(client)
    want = [f"Page {i}" for i in (5, 6, 7)]
    assert [json.loads(line)["title"] for line in
            (tmp_path / "second.jsonl").read_text().splitlines()] == want
    assert [row["title"] for row in json.loads((tmp_path / "second.json").read_text())] == want
    with (tmp_path / "second.csv").open() as handle:
        assert [row["title"] for row in csv.DictReader(handle)] == want
    root = ET.parse(tmp_path / "second.xml").getroot()
    assert [item.findtext("title") for item in root.findall("item")] == want

    summary, again = export(redis_url, tmp_path / "empty.json", after)
    assert summary.startswith("Exported 0 items") and again == after
    assert json.loads((tmp_path / "empty.json").read_text()) == []


def test_a_bad_cursor_is_refused(redis_url: str, tmp_path: Path) -> None:
    result = run_scrapy(redis_url, "export", "site", "-o", str(tmp_path / "x.jsonl"),
                        "--since", "yesterday")
    assert result.returncode == 2
    assert "--since: 'yesterday' is not a cursor" in result.stderr
    both = run_scrapy(redis_url, "export", "site", "-o", str(tmp_path / "x.jsonl"), "--postgres")
    assert both.returncode == 2 and "-o FILE, or --postgres" in both.stderr


def export_max_rss_kb(redis_url: str, target: Path) -> int:
    """The peak memory of one ``scrapy export`` process."""
    probe = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
             "stdout=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN)"
             ".ru_maxrss)")
    command = scrapy_command("export", "site", "-o", str(target))
    result = subprocess.run([sys.executable, "-c", probe, *command], cwd=ROOT,
                            env=node_env(redis_url), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return int(result.stdout)


def add_raw(client: redis.Redis, first: int, count: int) -> None:
    pipe = client.pipeline(transaction=False)
    for i in range(first, first + count):
        pipe.xadd(KEYS.items, {"item": json.dumps(
            {"url": f"https://a.test/{i}", "title": f"Page {i}", "text": "lorem ipsum " * 25})})
        if len(pipe) == 5000:
            pipe.execute()
    pipe.execute()


def test_an_export_streams_in_constant_memory(redis_url: str, client: redis.Redis,
                                              tmp_path: Path) -> None:
    add_raw(client, 0, 10_000)
    small = export_max_rss_kb(redis_url, tmp_path / "small.jsonl")
    add_raw(client, 10_000, 90_000)  # ten times as many items, ~40 MB more in the stream
    big = export_max_rss_kb(redis_url, tmp_path / "big.jsonl")
    assert len((tmp_path / "big.jsonl").read_text().splitlines()) == 100_000
    print(f"\npeak memory of an export: {small // 1024} MB for 10,000 items, "
          f"{big // 1024} MB for 100,000")
    assert big - small < 15 * 1024, f"{small} kB for 10,000 items, {big} kB for 100,000"


def test_an_item_that_is_not_utf8_is_stored_and_exported(redis_url: str, client: redis.Redis,
                                                         tmp_path: Path) -> None:
    async def add() -> None:
        async_client = redis.asyncio.Redis.from_url(redis_url)
        try:
            store = ItemStore(async_client, RECORDS, "url")
            await asyncio.wait_for(store.add({"url": "https://a.test/x", "text": "a\udcffb"}), 10)
        finally:
            await async_client.aclose()

    asyncio.run(add())
    summary, _ = export(redis_url, tmp_path / "items.jsonl")
    assert summary.startswith("Exported 1 items")
    assert json.loads((tmp_path / "items.jsonl").read_text())["text"] == "a?b"
