"""The status model against a real Redis: a node whose heartbeat stopped is dead, the leases
are read through a bounded sample, entries that failed before count as retrying."""

from __future__ import annotations

import json
from typing import Any

import redis
from scrapy.settings import Settings

from crawler.node.config import FrontierConfig
from crawler.ops import status_model
from crawler.redis.keys import CrawlKeys
from tests.helpers import queue_raw

KEYS = CrawlKeys("crawl", "site")


def test_a_node_whose_heartbeat_stopped_is_dead(client: redis.Redis) -> None:
    config = FrontierConfig.from_settings(Settings({"SCHEDULER_NODE_TIMEOUT": 30}))
    secs, micros = client.time()
    now = secs + micros / 1e6
    client.hset(KEYS.nodes, mapping={
        "a:1:live": json.dumps({"beat": now - 1, "host": "a", "pages": 10, "ppm": 120.0,
                                "errors": 2, "in_progress": 3, "idle_for": -1}),
        "b:2:gone": json.dumps({"beat": now - 100, "host": "b", "pages": 7, "ppm": 60.0,
                                "idle_for": -1}),
    })
    queue_raw(client, KEYS, {b"0000000000000002ra": 0})
    status = status_model.crawl_status(client, KEYS, config)
    assert status["state"] == "running"
    assert (status["nodes_alive"], status["nodes_dead"]) == (1, 1)
    live, dead = status["nodes"]
    assert live["alive"] and live["ppm"] == 120.0 and live["errors"] == 2
    assert not dead["alive"] and dead["ppm"] == 0.0 and dead["last_beat_seconds_ago"] >= 99
    assert status["pages_per_minute"] == 120.0, "no series yet: the live nodes' own rates"


def lease_many(client: redis.Redis, count: int, first: str = "a.example") -> None:
    """``count`` leases of two domains, 3 of ``first`` for 1 of ``b.example``."""
    client.delete(KEYS.leased)
    pad = "x" * 300
    for start in range(0, count, 5000):
        client.hset(KEYS.leased, mapping={
            f"{i:016d}": f"n1 0 {i:016d}q{first if i % 4 else 'b.example'} {pad}"
            for i in range(start, min(start + 5000, count))})


def bytes_read_by_status(client: redis.Redis, config: FrontierConfig) -> tuple[int, Any]:
    before = int(client.info("stats")["total_net_output_bytes"])
    status = status_model.crawl_status(client, KEYS, config)
    return int(client.info("stats")["total_net_output_bytes"]) - before, status


def test_status_reads_a_bounded_sample_of_the_leases(client: redis.Redis) -> None:
    config = FrontierConfig.from_settings(Settings())
    lease_many(client, 200)
    _, status = bytes_read_by_status(client, config)
    assert status["in_flight_by_domain"] == {"a.example": 150, "b.example": 50}
    assert not status["in_flight_sampled"]
    lease_many(client, 2000)
    few, _ = bytes_read_by_status(client, config)
    lease_many(client, 20_000)
    many, status = bytes_read_by_status(client, config)
    assert many < 1.5 * few, f"{many} bytes read for 20,000 leases, {few} for 2,000"
    assert status["in_flight_sampled"] and status["in_progress"] == 20_000
    estimated = status["in_flight_by_domain"]
    assert abs(estimated["a.example"] - 15_000) < 1500  # 5 standard deviations


def test_retrying_counts_the_entries_that_failed_before(client: redis.Redis) -> None:
    client.hset(KEYS.attempts, mapping={"0000000000000001": "[{}]", "0000000000000002": "[{}]"})
    status = status_model.crawl_status(client, KEYS, FrontierConfig.from_settings(Settings()))
    assert status["retrying"] == 2
