"""``scrapy status``: ``--watch`` and the JSON against a real crawl, the redraw in place on a
terminal and plain output on a dumb one, dead nodes; the rate, ETA and chart arithmetic."""

from __future__ import annotations

import json
import os
import pty
import queue
import select
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from scrapy.settings import Settings

from crawler.node.config import FrontierConfig
from crawler.ops import status_model
from crawler.ops.status_model import Sample
from crawler.redis.keys import CrawlKeys
from tests.conftest import ROOT, Site, node_env, run_scrapy, scrapy_command, start_node
from tests.helpers import queue_raw

KEYS = CrawlKeys("crawl", "site")
BAD_ENTRY = b"9000000000000001rnot json"  # decodes to nothing: one dead letter


class Lines:
    """The lines a process writes to its stdout, read by a thread (never blocks a test)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.queue: queue.Queue[str] = queue.Queue()
        assert process.stdout is not None
        self.stream = process.stdout
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        for line in self.stream:
            self.queue.put(line)

    def next(self, timeout: float = 30) -> str:
        return self.queue.get(timeout=timeout)

    def close(self) -> None:
        """Once the process has exited: wait for the last lines, close the pipe."""
        self.thread.join(10)
        self.stream.close()


def test_watch_follows_a_crawl_and_the_json_tells_it_finished(
        redis_url: str, client: redis.Redis, small_site: Site, tmp_path: Path) -> None:
    watch = subprocess.Popen(
        scrapy_command("status", "site", "--watch", "--json", "--interval", "0.3"),
        cwd=ROOT, env=node_env(redis_url), stdout=subprocess.PIPE, text=True)
    lines = Lines(watch)
    try:
        seen = [json.loads(lines.next())]
        assert seen[0]["state"] == "empty"
        queue_raw(client, KEYS, {BAD_ENTRY: -10})
        run_scrapy(redis_url, "seed", "site", "-", stdin=small_site.page(0) + "\n")
        node = start_node(redis_url, tmp_path / "node.log", DOWNLOAD_DELAY="0.02",
                          CONCURRENT_REQUESTS_PER_DOMAIN="4")
        while node.poll() is None:
            seen.append(json.loads(lines.next()))
        assert node.wait() == 0
        for _ in range(20):
            seen.append(json.loads(lines.next()))
            if seen[-1]["state"] == "finished":
                break
        watch.send_signal(signal.SIGINT)
        assert watch.wait(20) == 0, "Ctrl-C did not end --watch quietly"
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait()
        lines.close()
    done = [s["done"] for s in seen]
    assert done == sorted(done), "done went backwards"
    running = [s for s in seen if s["state"] == "running"]
    assert running, "no refresh saw the crawl running"
    assert any(s["nodes_alive"] == 1 and s["nodes"][0]["alive"] and s["nodes"][0]["ppm"] > 0
               for s in running)
    assert any(s["pages_per_minute"] > 0 for s in running)
    assert seen[-1]["state"] == "finished"

    result = run_scrapy(redis_url, "status", "site", "--json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["state"] == "finished"
    assert status["items"] == status["fingerprints"] == small_site.pages
    assert status["done"] == int(client.hget(KEYS.stats, "done") or 0) >= small_site.pages
    assert status["dead_letters"] == 1
    assert status["queued"] == status["in_progress"] == status["seeds_waiting"] == 0
    assert status["eta_seconds"] is None
    assert status["nodes"] == [] and status["nodes_alive"] == status["nodes_dead"] == 0
    text = run_scrapy(redis_url, "status", "site")
    assert text.returncode == 0, text.stderr
    assert "state                     finished" in text.stdout
    assert f"items stored          {small_site.pages:>12,}" in text.stdout


def read_terminal(fd: int, until: bytes, count: int, timeout: float = 30) -> bytes:
    """What a process writes to the pseudo-terminal ``fd`` until ``until`` showed ``count``
    times."""
    out = b""
    deadline = time.monotonic() + timeout
    while out.count(until) < count:
        assert time.monotonic() < deadline, f"the terminal showed only: {out!r}"
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            out += os.read(fd, 65536)
    return out


@pytest.mark.parametrize("term", ["xterm-256color", "dumb"])
def test_watch_redraws_in_place_only_where_the_terminal_can(redis_url: str, client: redis.Redis,
                                                            term: str) -> None:
    client.hset(KEYS.stats, mapping={"enqueued": 3, "done": 1})
    queue_raw(client, KEYS, {b"0000000000000002ra": 0, b"0000000000000003rb": 0})
    primary, secondary = pty.openpty()
    watch = subprocess.Popen(scrapy_command("status", "site", "--watch", "--interval", "0.3"),
                             cwd=ROOT, env={**node_env(redis_url), "TERM": term},
                             stdin=subprocess.DEVNULL, stdout=secondary, stderr=secondary)
    os.close(secondary)
    try:
        shown = read_terminal(primary, b"Crawl 'site' at", 3)
        watch.send_signal(signal.SIGINT)
        assert watch.wait(20) == 0
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait()
        os.close(primary)
    assert b"stopped  done 1  queued 2  leased 0  seeds 0  items 0" in shown
    assert b"nodes: 0 alive, 0 dead" in shown
    if term == "dumb":
        assert b"\x1b" not in shown, "escape codes on a dumb terminal"
    else:
        assert b"\x1b[3F\x1b[J" in shown, "the refresh did not redraw in place"


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


def sample(t: float, remaining: int, done: int) -> Sample:
    return Sample(t=t, queued=remaining, leased=0, seeds=0, done=done, items=done)


def test_rate_and_eta_come_from_the_series() -> None:
    history = [sample(1000 + 10 * i, 500 - 20 * i, 30 * i) for i in range(10)]  # t 1000..1090
    now = sample(1095, 310, 285)
    ppm, eta = status_model.progress(history, now, live_ppm=999)
    # rate from the oldest sample at most 70 s old (t=1030, done=90): 195 in 65 s
    assert ppm == round(195 * 60 / 65, 1)
    # ETA from the oldest at most 40 s old (t=1060, 380 left): 70 fewer in 35 s
    assert eta == round(310 / (70 / 35))
    growing = [sample(t, 100 + t - 1000, 0) for t in (1000, 1010, 1020)]
    assert status_model.progress(growing, sample(1025, 200, 0), live_ppm=0)[1] is None
    assert status_model.progress(history[-1:], sample(1092, 300, 0), live_ppm=42.5) == (42.5, None)


def test_the_chart_breaks_where_no_node_was_sampling() -> None:
    old = [sample(0, 50, 0), sample(10, 40, 60)]
    recent = [sample(300, 30, 60), sample(310, 20, 120)]
    now = sample(316, 10, 150)
    points = status_model.chart([now, *reversed(old + recent)])
    assert [p["t"] for p in points] == [-316, -306, -16, -6, 0]
    assert [p["ppm"] for p in points] == [None, 360.0, None, 360.0, 300.0]
    assert [p["gap"] for p in points] == [False, False, True, False, False]
    assert [p["queued"] for p in points] == [50, 40, 30, 20, 10]
    hour_ago = sample(316 - 3700, 99, 0)
    assert status_model.chart([now, *reversed(old + recent), hour_ago])[0]["t"] == -316
    just_after = status_model.chart([sample(312, 15, 130), *reversed(recent)])
    assert [(p["t"], p["ppm"], p["queued"]) for p in just_after] == [
        (-12, None, 30), (-2, 360.0, 20), (0, None, 15)], "a rate over 2 s is noise"


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
