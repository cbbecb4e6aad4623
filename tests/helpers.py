"""Checks the tests share: what the export holds, what each node did."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis

from crawler.frontier.formats import ID_LENGTH, queued_body
from crawler.redis.keys import CrawlKeys
from tests.conftest import run_scrapy


def exported_rows(redis_url: str, folder: Path) -> list[dict[str, Any]]:
    """Export the crawl's items as JSON lines and read them back."""
    target = folder / "items.jsonl"
    result = run_scrapy(redis_url, "export", "site", "-o", str(target))
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in target.read_text().splitlines()]


def export_titles(redis_url: str, folder: Path) -> Counter[str]:
    """Export the crawl's items and count them by page title."""
    return Counter(row["title"] for row in exported_rows(redis_url, folder))


def export_pages(redis_url: str, folder: Path) -> Counter[tuple[str, str]]:
    """Export the crawl's items and count them by (host, page title)."""
    return Counter((urlsplit(row["url"]).hostname or "", row["title"])
                   for row in exported_rows(redis_url, folder))


def pages_crawled(log: Path) -> int:
    """The ``response_received_count`` a node's final stats report (0 if none)."""
    found = re.findall(r"'response_received_count': (\d+)", log.read_text(errors="replace"))
    return int(found[-1]) if found else 0


def expected_titles(pages: int) -> Counter[str]:
    return Counter(f"Page {i}" for i in range(pages))


def queue_raw(client: redis.Redis, keys: CrawlKeys, entries: dict[bytes, float]) -> None:
    """Put stored entries (``<16-digit id><kind><payload>``: score, minus the priority) in
    a crawl's queue as another program, or a corruption, might: in the queue of domain
    ``""``, as entries that came back (their ids kept), counted."""
    for entry, score in entries.items():
        priority = int(-score)
        client.rpush(keys.pending_list("", priority), entry[:ID_LENGTH] + queued_body(
            entry[ID_LENGTH:]))
        client.zadd(keys.domain_priorities(""), {str(priority): -priority})
    client.zadd(keys.domains, {"": 0}, nx=True)
    client.hincrby(keys.stats, "queued", len(entries))


def queued(client: redis.Redis, keys: CrawlKeys, domain: str | None = None) -> int:
    """How many entries the domain lists of ``domain`` (``None``: every domain) hold."""
    lists = client.scan_iter(match=keys.domain_priorities("*") + " *") if domain is None \
        else [keys.pending_list(domain, int(p))
              for p in client.zrange(keys.domain_priorities(domain), 0, -1)]
    return sum(int(client.llen(k)) for k in lists)
