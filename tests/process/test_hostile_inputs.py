"""Hostile inputs, each with what a user sees, from one real node crawling two local sites:
odd URL schemes, braces and non-ASCII in host names, a 20 kB URL, binary and oversized
answers (and a gzip bomb), endless redirects and a redirect cycle, a garbage robots.txt
(obeyed, asking a Crawl-delay of 1e300 s), and a site answering 503 to everything.
Each gives a one-line error, a dead letter with its reason, or what plain
Scrapy does; the node ends by itself and every page of the healthy site is crawled once."""

from __future__ import annotations

import json
import re
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis

from crawler.commands.demo.site import LONG_PAD
from crawler.items.stream import read_items
from crawler.redis.keys import CrawlKeys
from tests.conftest import ROOT, RedisServer, Site, start_node, start_site, wait_all
from tests.helpers import expected_titles
from tests.spiders.hostile import DATA_URL

KEYS = CrawlKeys("crawl", "hostile")
PAGES = 40
MAXSIZE = 100_000  # DOWNLOAD_MAXSIZE of the node; /huge answers 300 kB
MAX_DELAY = 0.05  # ROBOTSTXT_MAX_DELAY of the node; the garbage robots.txt asks for 1e300 s
ODD_SEEDS = ["ftp://127.0.0.1:1/seed.txt", "javascript:alert(1)",
             "mailto:someone@example.com", "data:text/html,<b>x</b>"]


@dataclass
class Crawl:
    """What one node's crawl of the hostile sites left behind."""

    code: int
    log: str
    items: list[dict[str, Any]]
    dead: list[dict[str, Any]]
    healthy: Site  # serves pages, /hostile and the bad routes, with a garbage robots.txt
    failing: Site  # answers 503 to everything
    leased: int
    queued: int

    def paths(self, site: Site) -> Counter[str]:
        with urllib.request.urlopen(f"{site.url}/_paths") as answer:
            return Counter(json.loads(answer.read()))

    def lines(self, text: str) -> list[str]:
        """The log records (their first lines) that hold ``text``."""
        return [line for line in self.log.splitlines() if text in line and line[:1].isdigit()]


@pytest.fixture(scope="module")
def crawl(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crawl]:
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    healthy_process, healthy = start_site(PAGES, "127.0.0.1", "--robots", "garbage")
    failing_process, failing = start_site(5, "127.0.0.2", "--fail-all")
    try:
        port = healthy.url.rsplit(":", 1)[1]
        client.rpush(KEYS.start_urls, healthy.page(0), f"{healthy.url}/hostile", *ODD_SEEDS,
                     f"http://{{a}}.hostile.test:{port}/echo",
                     f"http://bücher.hostile.test:{port}/echo",
                     f"{healthy.url}/long?pad=" + "y" * LONG_PAD,
                     *(failing.page(i) for i in range(failing.pages)))
        log = tmp_path_factory.mktemp("hostile") / "node.log"
        node = start_node(redis_server.url, log, spider="hostile", ROBOTSTXT_OBEY="True",
                          SPIDER_MODULES="spiders,tests.spiders",
                          ROBOTSTXT_MAX_DELAY=str(MAX_DELAY), DOWNLOAD_MAXSIZE=str(MAXSIZE),
                          TWISTED_DNS_RESOLVER="tests.resolver.LoopbackResolver")
        (code,) = wait_all([node], timeout=120)
        yield Crawl(code, log.read_text(), [item for _, item in read_items(client, KEYS)],
                    [json.loads(d) for d in client.lrange(KEYS.dead, 0, -1)], healthy,
                    failing, client.hlen(KEYS.leased),
                    int(client.hget(KEYS.stats, "queued") or 0))
    finally:
        for process in (healthy_process, failing_process):
            process.terminate()
            process.wait(10)
            assert process.stdout is not None
            process.stdout.close()
        client.close()


def test_the_node_ends_by_itself_with_nothing_left(crawl: Crawl) -> None:
    assert crawl.code == 0
    assert "'finish_reason': 'finished'" in crawl.log
    assert (crawl.leased, crawl.queued) == (0, 0)
    # The only tracebacks are Scrapy's own "Error downloading <URL>", none from the engine.
    for block in re.split(r"\n(?=\d{4}-\d\d-\d\d )", crawl.log):
        if "Traceback" in block:
            assert "Error downloading <GET " in block.splitlines()[0], block
            assert f"{ROOT}/crawler/" not in block, block


def test_every_healthy_page_is_crawled_once(crawl: Crawl) -> None:
    titles = Counter(item["title"] for item in crawl.items if "/page?" in item["url"])
    assert titles == expected_titles(PAGES)
    assert crawl.healthy.hits() == dict.fromkeys(range(PAGES), 1)


def test_seeds_with_odd_schemes_are_dead_letters_with_a_reason(crawl: Crawl) -> None:
    reasons = sorted(d["reason"] for d in crawl.dead)
    assert reasons == sorted(f"SeedError: not an http(s) URL: {url!r}" for url in ODD_SEEDS)
    assert len(crawl.lines("moved to the dead letters")) == len(ODD_SEEDS)


def test_links_with_odd_schemes(crawl: Crawl) -> None:
    # javascript:, mailto: and data: links are not links to Scrapy's link extractor: no
    # request, no word. An ftp: link is fetched as plain Scrapy does (here: refused).
    for scheme in ("javascript:", "mailto:", "data:"):
        assert not [line for line in crawl.log.splitlines()
                    if scheme in line and "dead letters" not in line]
    assert len(crawl.lines("Gave up retrying <GET ftp://127.0.0.1:1/file.txt> (failed 3 times)"
                           ": Connection was refused")) == 1
    assert len(crawl.lines("[scrapy.core.scraper] ERROR: Error downloading "
                           "<GET ftp://127.0.0.1:1/file.txt>")) == 1


def test_a_data_url_a_spider_yields_is_fetched_once(crawl: Crawl) -> None:
    assert [item["url"] for item in crawl.items if item["title"] == "Data"] == [DATA_URL]


def test_a_host_with_braces_fails_once_with_the_url(crawl: Crawl) -> None:
    url = f"http://{{a}}.hostile.test:{crawl.healthy.url.rsplit(':', 1)[1]}/echo"
    errors = crawl.lines(f"Error downloading <GET {url}>")
    assert len(errors) == 2  # its robots.txt, then itself; not retried, not queued again
    assert "invalid hostname: {a}.hostile.test" in errors[0]
    assert not [item for item in crawl.items if "{a}" in item["url"]]


def test_a_non_ascii_host_is_crawled_under_its_ascii_name(crawl: Crawl) -> None:
    echoed = [item for item in crawl.items if (item["title"] or "").startswith("Echo xn--")]
    assert [item["title"] for item in echoed] == ["Echo xn--bcher-kva.hostile.test"]


def test_a_20kb_url(crawl: Crawl) -> None:
    # Seeded, it goes through Redis whole and is fetched once; found on a page, plain
    # Scrapy's URLLENGTH_LIMIT drops it with one line.
    long = [item for item in crawl.items if "/long?pad=" in item["url"]]
    assert [item["url"] for item in long] == [f"{crawl.healthy.url}/long?pad=" + "y" * LONG_PAD]
    assert crawl.paths(crawl.healthy)["/long?pad=" + "y" * LONG_PAD] == 1
    assert len(crawl.lines("Ignoring link (url length > 2083): "
                           f"{crawl.healthy.url}/long?pad=xxx")) == 1
    assert crawl.paths(crawl.healthy)["/long?pad=" + "x" * LONG_PAD] == 0


def test_a_binary_answer_is_an_item_without_text(crawl: Crawl) -> None:
    (binary,) = [item for item in crawl.items if item["url"].endswith("/binary")]
    assert (binary["status"], binary["title"], binary["text"]) == (200, None, None)
    assert crawl.paths(crawl.healthy)["/binary"] == 1


def test_an_oversized_answer_is_cancelled_not_retried(crawl: Crawl) -> None:
    # Scrapy's warning, then its "Error downloading" (with Scrapy's traceback).
    for path, warning in [
            ("/huge?size=300000", "Expected to receive 300044 bytes which is larger than "
             f"download max size ({MAXSIZE})"),
            ("/huge?size=300000&chunked=1", f"bytes which is larger than download max size "
             f"({MAXSIZE}) in request <GET {crawl.healthy.url}/huge?size=300000&chunked=1>")]:
        assert len(crawl.lines(warning)) == 1
        assert len(crawl.lines(f"Error downloading <GET {crawl.healthy.url}{path}>")) == 1
        assert crawl.paths(crawl.healthy)[path] == 1
        assert not [item for item in crawl.items if path in item["url"]]


def test_a_gzip_bomb_is_dropped_with_one_warning(crawl: Crawl) -> None:
    path = "/huge?size=3000000&gzip=1"
    (warning,) = crawl.lines(f"Ignored response <200 {crawl.healthy.url}{path}> because "
                             "its body (")
    assert warning.endswith(f"exceeded DOWNLOAD_MAXSIZE ({MAXSIZE} B) during decompression.")
    assert crawl.paths(crawl.healthy)[path] == 1
    assert not [item for item in crawl.items if path in item["url"]]


def test_endless_redirects_stop_at_the_redirect_limit(crawl: Crawl) -> None:
    loops = {path: n for path, n in crawl.paths(crawl.healthy).items()
             if path.startswith("/loop?n=") and "mod" not in path}
    assert loops == {f"/loop?n={n}": 1 for n in range(21)}  # REDIRECT_MAX_TIMES = 20
    assert not [item for item in crawl.items if "/loop" in item["url"]]


def test_a_redirect_cycle_ends_at_the_seen_url(crawl: Crawl) -> None:
    cycle = {path: n for path, n in crawl.paths(crawl.healthy).items() if "mod=" in path}
    assert cycle == {"/loop?n=0&mod=2": 1, "/loop?n=1&mod=2": 1}  # back to n=0: a duplicate


def test_a_garbage_robots_txt_allows_everything_and_its_delay_is_bounded(
        crawl: Crawl) -> None:
    # Read once for each of the two host names the site is crawled under; the pages are
    # all crawled (see above). Its Crawl-delay of 1e300 s (that stopped the domain for
    # good, without a word) is cut to ROBOTSTXT_MAX_DELAY, one warning a domain.
    assert crawl.paths(crawl.healthy)["/robots.txt"] == 2
    warnings = [line.split("WARNING: ")[1] for line in crawl.lines("[crawler.node.robots]")]
    assert sorted(warnings) == [
        f"robots.txt of {domain} asks for 1e+300 s between requests: keeping to "
        f"ROBOTSTXT_MAX_DELAY={MAX_DELAY} s"
        for domain in ("127.0.0.1", "xn--bcher-kva.hostile.test")]


def test_a_site_answering_503_to_everything_is_retried_then_logged(crawl: Crawl) -> None:
    pages = [crawl.failing.page(i) for i in range(crawl.failing.pages)]
    assert crawl.paths(crawl.failing) == dict.fromkeys(
        ["/robots.txt", *(page.removeprefix(crawl.failing.url) for page in pages)], 3)
    for page in pages:
        assert len(crawl.lines(f"Gave up retrying <GET {page}> (failed 3 times): "
                               "503 Service Unavailable")) == 1
    assert not [item for item in crawl.items if item["url"].startswith(crawl.failing.url)]
