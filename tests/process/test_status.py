"""``scrapy status``: ``--watch`` and the JSON against a real crawl, the redraw in place on a
terminal and plain output on a dumb one."""

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

import pytest
import redis

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
