"""The add-on in real ``scrapy`` processes: a foreign scheduler or a bad environment value
stops a node in one line, ``scrapy settings`` prints the registered defaults, and a
scrapy-redis project switches to the frontier with one line."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import redis

from crawler.environment import ENVIRONMENT
from crawler.items.stream import read_items
from crawler.redis.keys import CrawlKeys
from tests.conftest import ROOT, Site, node_env, scrapy_command


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's shell may export REDIS_URL: these tests set what they need."""
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


def test_scrapy_crawl_refuses_a_foreign_scheduler_in_one_line(redis_url: str) -> None:
    done = subprocess.run(scrapy_command("crawl", "site", settings={
        "SCHEDULER": "scrapy.pqueues.ScrapyPriorityQueue"}), cwd=ROOT, env=node_env(redis_url),
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert ("error: setting SCHEDULER='scrapy.pqueues.ScrapyPriorityQueue' is neither "
            in done.stderr.splitlines()[-1])


def test_scrapy_settings_command_prints_the_registered_default() -> None:
    env = {k: v for k, v in node_env("embedded").items() if k != "REDIS_URL"}
    shown = subprocess.run([sys.executable, "-m", "scrapy", "settings", "--get",
                            "SCHEDULER_PREFETCH"], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=60)
    assert shown.stdout.strip() == "64", shown.stderr


ADOPTED_SETTINGS = '''
BOT_NAME = "adopted"
SPIDER_MODULES = ["adopted.spiders"]
ROBOTSTXT_OBEY = False
TELNETCONSOLE_ENABLED = False
# scrapy-redis's lines, as its users have them
SCHEDULER = "scrapy_redis.scheduler.Scheduler"
DUPEFILTER_CLASS = "scrapy_redis.dupefilter.RFPDupeFilter"
SCHEDULER_PERSIST = True
ITEM_PIPELINES = {
    "scrapy_redis.pipelines.RedisPipeline": 400,
    "crawler.pipelines.redis_store.RedisItemStorePipeline": 500,
}
# the one line that switches to the Redis frontier
ADDONS = {"crawler.addon.RedisFrontier": 0}
'''


ADOPTED_SPIDER = '''
from scrapy.linkextractors import LinkExtractor
from scrapy.spiders import CrawlSpider, Rule


class PagesSpider(CrawlSpider):
    name = "pages"
    rules = [Rule(LinkExtractor(allow=r"/page"), callback="parse_page", follow=True)]

    def __init__(self, start, **kwargs):
        self.start_urls = [start]
        super().__init__(**kwargs)

    def parse_start_url(self, response):
        return [self.parse_page(response)]

    def parse_page(self, response):
        return {"url": response.url, "title": response.css("title::text").get()}
'''


def adopted_project(folder: Path) -> Path:
    """A scrapy-redis project outside this repository, with the add-on's line added."""
    package = folder / "adopted"
    (package / "spiders").mkdir(parents=True)
    (folder / "scrapy.cfg").write_text("[settings]\ndefault = adopted.settings\n")
    (package / "__init__.py").write_text("")
    (package / "settings.py").write_text(ADOPTED_SETTINGS)
    (package / "spiders" / "__init__.py").write_text("")
    (package / "spiders" / "pages.py").write_text(ADOPTED_SPIDER)
    return folder


def test_a_scrapy_redis_project_switches_with_one_line_and_keeps_its_pipeline(
        tmp_path: Path, redis_url: str, client: redis.Redis, small_site: Site) -> None:
    """REDIS_URL and MAX_IDLE_TIME_BEFORE_CLOSE come from the environment, as a deployment
    gives them; scrapy-redis's RedisPipeline and our item store both get every item."""
    env = {**node_env(redis_url), "MAX_IDLE_TIME_BEFORE_CLOSE": "2",
           # scrapy-redis 0.9.1's own deprecations under Scrapy 2.19, not ours
           "PYTHONWARNINGS": "error,ignore:RedisPipeline.process_item() requires a spider,"
                             "ignore:scrapy_redis.pipelines.RedisPipeline.process_item returned"}
    before = Counter(small_site.hits())
    done = subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", "pages", "-a", f"start={small_site.page(0)}",
         "-s", "SCHEDULER_HEARTBEAT_SECONDS=0.2", "-s", "LOG_LEVEL=INFO"],
        cwd=adopted_project(tmp_path), env=env, capture_output=True, text=True, timeout=240)
    log = done.stderr
    assert done.returncode == 0, log[-3000:]
    assert "SCHEDULER=scrapy_redis.scheduler.Scheduler and DUPEFILTER_CLASS=" in log
    assert f"Frontier of crawl 'pages' at {redis_url}" in log
    hits = Counter(small_site.hits()) - before
    # As in Scrapy, the start URL is dont_filter: fetched again when a link reaches it.
    assert hits.pop(0) == 2 and set(hits.values()) == {1}, "a page fetched twice"
    assert client.llen("pages:items") == small_site.pages + 1, "scrapy-redis's RedisPipeline"
    stored = [item["title"] for _, item in read_items(client, CrawlKeys("crawl", "pages"))]
    assert set(stored) == {f"Page {i}" for i in range(small_site.pages)}, "our item store"


def test_a_bad_environment_value_stops_a_node_with_one_line() -> None:
    env = {**node_env("redis://127.0.0.1:1/0"), "SCHEDULER_PREFETCH": "abc"}
    done = subprocess.run([sys.executable, "-m", "scrapy", "crawl", "site"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        "error: environment variable SCHEDULER_PREFETCH='abc' is not a number")


