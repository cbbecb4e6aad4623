"""What the dashboard reads beyond ``status_model.crawl_status``: which crawls a Redis holds,
and one crawl's chart, dead letters and latest items. Blocking calls: the web server
runs them in Twisted's thread pool."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import redis

from crawler.dashboard import metrics
from crawler.frontier.exchange import SERIES_SAMPLES
from crawler.node.config import FrontierConfig
from crawler.ops import partitioned, status_model
from crawler.redis.keys import CrawlKeys

DISCOVERY_SECONDS = 10.0  # how long a SCAN for crawls is reused (it walks every key)
ROLES = ("nodes", "stats")  # a crawl exists for the dashboard when one of these keys does
TEXT_LIMIT = 300  # characters of a dead letter's entry or an item's field that are shown


def _short(value: Any) -> Any:
    if isinstance(value, str) and len(value) > TEXT_LIMIT:
        return value[:TEXT_LIMIT] + "…"
    return value


def _letter(raw: bytes) -> dict[str, Any]:
    """A dead letter as stored (JSON), or what an unreadable one shows."""
    try:
        letter = json.loads(raw)
    except ValueError:
        letter = None
    if not isinstance(letter, dict):
        return {"reason": "unreadable", "entry": raw.decode(errors="replace")}
    return letter


def crawl_detail(client: redis.Redis, keys: CrawlKeys, config: FrontierConfig,
                 dead_limit: int = 50, items_limit: int = 10) -> dict[str, Any]:
    """``crawl_status`` plus the hour's chart, the newest dead letters of every partition
    with their reasons and the newest items (long texts cut to ``TEXT_LIMIT`` characters)."""
    status, samples = status_model.read_crawl(client, keys, config, SERIES_SAMPLES)
    pipe = client.pipeline(transaction=False)
    every = keys.every_partition(status["partitions"])
    for partition in every:
        pipe.lrange(partition.dead, 0, dead_limit - 1)
    pipe.xrevrange(keys.items, "+", "-", count=items_limit)
    *dead_raw, items_raw = pipe.execute()
    dead = [{k: _short(letter.get(k)) for k in ("id", "reason", "node", "time", "entry")}
            for letter in partitioned.newest_first(
                ([_letter(raw) for raw in letters] for letters in dead_raw), dead_limit)]
    items = []
    for stream_id, fields in items_raw:
        try:
            item = json.loads(fields.get(b"item", b"null"))
        except ValueError:
            item = None
        if not isinstance(item, dict):
            item = {"item": fields.get(b"item", b"").decode(errors="replace")}
        items.append({"time": int(stream_id.split(b"-")[0]) / 1000,
                      "item": {k: _short(v) for k, v in item.items()}})
    return {**status, "chart": status_model.chart(samples), "dead": dead, "latest_items": items}


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "\\*?[]" else c for c in text)


def find_crawls(client: redis.Redis, prefix: str) -> list[str]:
    """The names of the crawls under ``prefix`` that have nodes or counters (SCAN), in
    any of their partitions (``{<crawl>/<partition>}``)."""
    names: set[str] = set()
    for role in ROLES:
        head, tail = f"{prefix}:{{", f"}}:{role}"
        match = f"{_glob_escape(head)}*{_glob_escape(tail)}"
        for key in client.scan_iter(match=match, count=5000):
            text = key.decode(errors="replace")
            if len(text) > len(head) + len(tail):
                tag = text[len(head):-len(tail)]
                crawl, slash, partition = tag.rpartition("/")
                names.add(crawl if slash and crawl and partition.isdecimal() else tag)
    return sorted(names)


class DashboardData:
    """What the routes show, read from Redis (blocking: call it from a thread)."""

    def __init__(self, client: redis.Redis, config: FrontierConfig, where: str,
                 only: str | None, keys: Callable[[str], CrawlKeys]) -> None:
        """``keys(name)``: the keys of crawl ``name`` (its seeds where its spider reads them)."""
        self.client = client
        self.config = config
        self.where = where
        self.only = only
        self.keys = keys
        self._lock = threading.Lock()
        self._names: list[str] = []
        self._found_at = float("-inf")

    def names(self) -> list[str]:
        """The crawls shown: the one named on the command line, else those found by SCAN
        (the list is reused for ``DISCOVERY_SECONDS``)."""
        if self.only is not None:
            return [self.only]
        with self._lock:
            if time.monotonic() - self._found_at > DISCOVERY_SECONDS:
                self._names = find_crawls(self.client, self.config.redis.key_prefix)
                self._found_at = time.monotonic()
            return list(self._names)

    def statuses(self) -> list[dict[str, Any]]:
        """Every shown crawl's ``crawl_status``."""
        return [status_model.crawl_status(self.client, self.keys(n), self.config)
                for n in self.names()]

    def overview(self) -> dict[str, Any]:
        """The JSON of ``/api/crawls``."""
        return {"redis": self.where, "crawls": self.statuses()}

    def detail(self, name: str) -> dict[str, Any] | None:
        """The JSON of ``/api/crawls/<name>``; ``None`` for a crawl not shown."""
        keys = self.keys(name)
        if self.only is not None and name != self.only:
            return None
        if name not in self.names() and not self.client.exists(keys.stats, keys.nodes):
            return None
        return {"redis": self.where, **crawl_detail(self.client, keys, self.config)}

    def metrics(self) -> str:
        """The text of ``/metrics``."""
        return metrics.render(self.statuses())
