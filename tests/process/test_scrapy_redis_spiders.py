"""scrapy-redis's spider classes, unchanged, on the Redis frontier: on the same local site,
two nodes give the items scrapy-redis's own scheduler gives (run first, on the same Redis,
its own keys), every page is fetched once, and the crawl ends by itself.

The project is ``tests/scrapy_redis_project``: scrapy-redis 0.9.1's example project. Our
runs add the one line of "Switching from scrapy-redis" (``ADDONS``), on the command line.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from crawler.commands.demo.site import page_links
from tests.conftest import Site, node_env, scrapy_command, wait_all

PROJECT = Path(__file__).resolve().parents[1] / "scrapy_redis_project"
SWITCH = {"ADDONS": '{"crawler.addon.RedisFrontier": 0}'}
# scrapy-redis 0.9.1 calls APIs this Scrapy deprecates: its nodes only log the warnings;
# ours fail on any warning but those of scrapy-redis's RedisPipeline, kept in the project.
THEIR_WARNINGS = "default"
OUR_WARNINGS = ("error,ignore:RedisPipeline.process_item(),"
                "ignore:scrapy_redis.pipelines.RedisPipeline.process_item returned")
FAST = {"MAX_IDLE_TIME_BEFORE_CLOSE": "2", "SCHEDULER_HEARTBEAT_SECONDS": "0.2"}


@pytest.fixture
def nodes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """The nodes a test starts; those still running at its end are killed."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for node in started:
        if node.poll() is None:
            node.kill()
            node.wait()


def start(started: list[subprocess.Popen[bytes]], redis_url: str, log: Path, spider: str,
          ours: bool, *args: str, **settings: str) -> None:
    """A ``scrapy crawl SPIDER`` node of the example project, on scrapy-redis's scheduler
    or (``ours``) on the frontier."""
    env = {**node_env(redis_url), "PYTHONWARNINGS": OUR_WARNINGS if ours else THEIR_WARNINGS}
    chosen = {"REDIS_URL": redis_url, "DOWNLOAD_DELAY": "0", "LOG_LEVEL": "INFO",
              **(SWITCH if ours else {"MAX_IDLE_TIME_BEFORE_CLOSE": "2"}), **settings}
    with log.open("ab") as handle:
        started.append(subprocess.Popen(scrapy_command("crawl", spider, *args, settings=chosen),
                                        cwd=PROJECT, env=env, stdout=handle,
                                        stderr=subprocess.STDOUT))


def finish(started: list[subprocess.Popen[bytes]], logs: list[Path]) -> None:
    codes = wait_all(started[-2:], timeout=180)
    assert codes == [0, 0], "\n".join(log.read_text(errors="replace")[-3000:] for log in logs)


def take_items(client: redis.Redis, spider: str) -> Counter[str]:
    """The items scrapy-redis's RedisPipeline stored (by page title), removed for the next run."""
    key = f"{spider}:items"
    names = Counter(json.loads(raw)["name"] for raw in client.lrange(key, 0, -1))
    client.delete(key)
    return names


def fetched_during(site: Site, action: Callable[[], None]) -> Counter[int]:
    before = Counter(site.hits())
    action()
    return Counter(site.hits()) - before


def seed_json(site: Site) -> str:
    return json.dumps({"url": site.page(0)})


def assert_same_crawl(theirs: Counter[str], ours: Counter[str], fetched: Counter[int],
                      site: Site) -> None:
    assert {f"Page {i}" for i in range(site.pages)} == set(theirs), "reference incomplete"
    assert ours == theirs, f"items differ: {ours - theirs} more, {theirs - ours} fewer"
    again = {page: n for page, n in fetched.items() if page != 0 and n != 1}
    assert not again, f"pages not fetched exactly once: {again}"


def test_the_seed_page_is_linked(small_site: Site) -> None:
    """The case of the missing item: the seed's page is linked from another page."""
    assert any(0 in page_links(i, small_site.pages, 1) for i in range(1, small_site.pages))


@dataclass
class Bench:
    """What a comparison needs: the Redis, the site, a folder for logs, the nodes."""

    redis_url: str
    client: redis.Redis
    site: Site
    folder: Path
    nodes: list[subprocess.Popen[bytes]]

    def crawl(self, spider: str, ours: bool, *args: str, **settings: str) -> list[Path]:
        """Start two nodes of ``spider``; their logs."""
        logs = [self.folder / f"{'ours' if ours else 'theirs'}-{n}.log" for n in (1, 2)]
        for log in logs:
            start(self.nodes, self.redis_url, log, spider, ours, *args, **settings)
        return logs

    def theirs(self, spider: str, seeds: str | None, *args: str) -> Counter[str]:
        """The items of a crawl by scrapy-redis's scheduler (seeds LPUSHed on ``seeds``)."""
        if seeds is not None:
            self.client.lpush(seeds, seed_json(self.site))
        finish(self.nodes, self.crawl(spider, False, *args))
        return take_items(self.client, spider)

    def same_as(self, theirs: Counter[str], spider: str, ours: Callable[[], None]) -> None:
        """Crawl again with ``ours``: the same items, and every page but the seed's once."""
        fetched = fetched_during(self.site, ours)
        assert_same_crawl(theirs, take_items(self.client, spider), fetched, self.site)


@pytest.fixture
def bench(redis_url: str, client: redis.Redis, small_site: Site, tmp_path: Path,
          nodes: list[subprocess.Popen[bytes]]) -> Bench:
    return Bench(redis_url, client, small_site, tmp_path, nodes)


def test_redis_crawl_spider_gives_scrapy_redis_items_and_ends_by_itself(bench: Bench) -> None:
    theirs = bench.theirs("mycrawler_redis", "mycrawler:start_urls")

    def ours() -> None:  # our default MAX_IDLE_TIME_BEFORE_CLOSE (theirs: 0, never end)
        logs = bench.crawl("mycrawler_redis", True, SCHEDULER_HEARTBEAT_SECONDS="0.2")
        waiting = "Waiting for seeds in Redis key mycrawler:start_urls (scrapy seed"
        deadline = time.monotonic() + 90
        while not any(waiting in log.read_text(errors="replace") for log in logs):
            assert time.monotonic() < deadline, "no node said where it waits for seeds"
            time.sleep(0.2)
        seeded = subprocess.run(  # (REDIS_URL: the project maps no environment variable)
            scrapy_command("seed", "mycrawler_redis", "-",
                           settings={"REDIS_URL": bench.redis_url}),
            cwd=PROJECT, input=seed_json(bench.site), env=node_env(bench.redis_url),
            capture_output=True, text=True, timeout=120)
        assert "Seeded 1 URLs into mycrawler:start_urls" in seeded.stdout, seeded.stderr
        finish(bench.nodes, logs)

    bench.same_as(theirs, "mycrawler_redis", ours)
    assert not bench.client.exists("mycrawler:start_urls")


def test_redis_spider_gives_scrapy_redis_items(bench: Bench) -> None:
    theirs = bench.theirs("myspider_redis", "myspider:start_urls")
    assert theirs["Page 0"] == 2, "scrapy-redis: the seed's item, and the linked page's"

    def ours() -> None:
        bench.client.lpush("myspider:start_urls", seed_json(bench.site))
        finish(bench.nodes, bench.crawl("myspider_redis", True, **FAST))

    bench.same_as(theirs, "myspider_redis", ours)
    assert not bench.client.exists("myspider:start_urls")


def test_plain_crawl_spider_with_scrapy_redis_settings_gives_the_same_items(
        bench: Bench) -> None:
    site = f"site={bench.site.page(0)}"
    theirs = bench.theirs("local_crawl", None, "-a", site)
    bench.same_as(theirs, "local_crawl", lambda: finish(
        bench.nodes, bench.crawl("local_crawl", True, "-a", site, **FAST)))


def test_status_and_the_dashboard_count_the_seeds_on_the_spiders_key(
        redis_url: str, client: redis.Redis) -> None:
    client.rpush("mycrawler:start_urls", "http://127.0.0.1:9/a", "http://127.0.0.1:9/b")
    env = {**node_env(redis_url), "PYTHONWARNINGS": OUR_WARNINGS}
    shown = subprocess.run(scrapy_command("status", "mycrawler_redis", "--json", settings=SWITCH),
                           cwd=PROJECT, env=env, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["seeds_waiting"] == 2
    board = subprocess.Popen(
        scrapy_command("dashboard", "mycrawler_redis", "--port", "0", settings=SWITCH),
        cwd=PROJECT, env=env, stdout=subprocess.PIPE, text=True)
    assert board.stdout is not None
    try:
        url = board.stdout.readline().split(" at ")[1].split()[0]
        with urllib.request.urlopen(f"{url}api/crawls/mycrawler_redis", timeout=30) as answer:
            assert json.loads(answer.read())["seeds_waiting"] == 2
    finally:
        board.kill()
        board.wait()
        board.stdout.close()
