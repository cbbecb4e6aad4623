"""Entries the engine did not write are dead-lettered with a reason; nothing in them runs."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import redis

from crawler.redis.keys import CrawlKeys
from tests.conftest import Site, run_scrapy, start_node, wait_all
from tests.helpers import expected_titles, export_titles, queue_raw

KEYS = CrawlKeys("crawl", "site")


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (Path.touch, (str(self.marker),))  # type: ignore[return-value]


def test_garbage_and_pickles_in_the_queue_do_not_stop_the_crawl(
        redis_url: str, client: redis.Redis, small_site: Site, tmp_path: Path) -> None:
    marker = tmp_path / "pickle-ran"
    garbage = [b"r" + pickle.dumps(_Payload(marker)), b"rnot json", b'r{"url": 3}', b"xunknown"]
    # (ids a node never gives: the sequence numbers the seeds get must not collide)
    queue_raw(client, KEYS, {f"9{i:015d}".encode() + g: -10 for i, g in enumerate(garbage)})
    client.rpush(KEYS.start_urls, small_site.page(0), "ftp://not-http/")
    log = tmp_path / "node.log"

    assert wait_all([start_node(redis_url, log)]) == [0]

    assert not marker.exists(), "a pickle from Redis was executed"
    assert export_titles(redis_url, tmp_path) == expected_titles(small_site.pages)
    dead = [json.loads(d) for d in client.lrange(KEYS.dead, 0, -1)]
    reasons = sorted(d["reason"].split(":")[0] for d in dead)
    assert reasons == ["DecodeError"] * 4 + ["SeedError"]
    assert client.hlen(KEYS.leased) == 0
    status = json.loads(run_scrapy(redis_url, "status", "site", "--json").stdout)
    assert status["dead_letters"] == 5
    assert log.read_text().count("moved to the dead letters") == 5
