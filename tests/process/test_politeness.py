"""Politeness shared by the whole cluster, checked where it matters: at the sites.

Each site listens on its own loopback address (127.0.0.N), so each is a domain of its
own, and logs when every page request arrived and how many it answered at once.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import Site, run_scrapy, start_node, start_site, wait_all

# Arrival times at a site differ from the times nodes send requests by the jitter of
# three busy processes on a shared machine; windows are checked this much shorter.
JITTER = 0.15


@contextmanager
def sites(*specs: tuple[str, int, tuple[str, ...]]) -> Iterator[list[Site]]:
    """Serve one local site per (host, pages, localsite options)."""
    started = [start_site(pages, host, *options) for host, pages, options in specs]
    try:
        yield [site for _, site in started]
    finally:
        for process, _ in started:
            process.terminate()
            process.wait(10)
            assert process.stdout is not None
            process.stdout.close()


def most_in_window(arrivals: list[float], window: float) -> int:
    """The most arrivals in any span of ``window`` seconds."""
    most, first = 0, 0
    for last, t in enumerate(arrivals):
        while t - arrivals[first] >= window:
            first += 1
        most = max(most, last - first + 1)
    return most


def assert_each_page_once(site: Site) -> None:
    hits = site.hits()
    assert set(hits) == set(range(site.pages)), f"{site.url}: pages never fetched"
    assert max(hits.values()) == 1, f"{site.url}: pages fetched twice"


def seed(redis_url: str, urls: list[str]) -> None:
    seeded = run_scrapy(redis_url, "seed", "site", "-", stdin="\n".join(urls) + "\n")
    assert seeded.returncode == 0, seeded.stderr


def test_three_nodes_keep_every_domain_within_its_limits(redis_url: str,
                                                         tmp_path: Path) -> None:
    with sites(("127.0.0.2", 30, ("--delay", "0.05")),
               ("127.0.0.3", 12, ("--delay", "0.3")),
               # robots.txt (and every page) answered 1 s late: what nodes hand out
               # meanwhile must not leave in a bunch when it comes
               ("127.0.0.4", 10, ("--crawl-delay", "0.5", "--delay", "1"))
               ) as (paced, capped, robots):
        limits = {"127.0.0.3": {"concurrency": 1, "rate": "10/1"}}
        settings = {
            "DOMAIN_RATE": "4/1", "DOMAIN_LIMITS": json.dumps(limits),
            "ROBOTSTXT_OBEY": "True", "CONCURRENT_REQUESTS": "8",
            # AutoThrottle slows a node further, after the cluster's pace: its delay (x1.5
            # with RANDOMIZE_DOWNLOAD_DELAY) stays below the smallest interval (0.25 s)
            "AUTOTHROTTLE_ENABLED": "True", "AUTOTHROTTLE_START_DELAY": "0.05",
            "AUTOTHROTTLE_MAX_DELAY": "0.15",
        }
        nodes = [start_node(redis_url, tmp_path / f"node{i}.log", **settings) for i in range(3)]
        seed(redis_url, [paced.page(0), capped.page(0), robots.page(0)])
        assert wait_all(nodes) == [0, 0, 0]

        for site in (paced, capped, robots):
            assert_each_page_once(site)
        arrivals, _ = paced.log()
        assert most_in_window(arrivals, 1.0 - JITTER) <= 4, "DOMAIN_RATE 4/1 exceeded"
        _, at_once = capped.log()
        assert at_once == 1, "DOMAIN_LIMITS concurrency 1 exceeded"
        arrivals, _ = robots.log()
        gaps = [b - a for a, b in itertools.pairwise(arrivals)]
        assert min(gaps) >= 0.5 - JITTER, f"robots.txt Crawl-delay 0.5 not kept: {gaps}"


def test_a_huge_slow_domain_does_not_starve_the_others(redis_url: str,
                                                       tmp_path: Path) -> None:
    with sites(("127.0.0.5", 2000, ("--delay", "1")),
               *[(f"127.0.0.{n}", 40, ()) for n in (6, 7, 8)]) as (huge, *small):
        limits = {"127.0.0.5": {"rate": "2/1"}}
        nodes = [start_node(redis_url, tmp_path / f"node{i}.log", CONCURRENT_REQUESTS="4",
                            DOMAIN_LIMITS=json.dumps(limits)) for i in range(2)]
        # The huge domain's 2,000 pages are all queued before the small domains' seeds.
        seed(redis_url, [huge.page(i) for i in range(huge.pages)])
        seed(redis_url, [site.page(0) for site in small])
        deadline = time.monotonic() + 90
        while sum(len(site.hits()) for site in small) < 3 * 40:
            assert time.monotonic() < deadline, "the small domains never finished"
            time.sleep(0.2)
        huge_done = len(huge.hits())
        status = json.loads(run_scrapy(redis_url, "status", "site", "--json").stdout)
        assert status["domains_queued"] == 1
        assert "127.0.0.5" in status["in_flight_by_domain"]
        stopped = run_scrapy(redis_url, "stop", "site")
        assert stopped.returncode == 0, stopped.stderr
        assert wait_all(nodes, timeout=60) == [0, 0]

        for site in small:
            assert_each_page_once(site)
        assert huge_done < huge.pages // 10, f"the small domains waited for {huge_done} pages"
        arrivals, _ = huge.log()
        assert most_in_window(arrivals, 1.0 - JITTER) <= 2, "the huge domain's rate exceeded"


def test_bad_limits_are_a_one_line_error_naming_the_setting(redis_url: str,
                                                            tmp_path: Path) -> None:
    log = tmp_path / "node.log"
    node = start_node(redis_url, log, DOMAIN_LIMITS='{"a.example": {"rate": "fast"}}')
    try:
        node.wait(60)
    except subprocess.TimeoutExpired:
        node.kill()
        raise
    assert node.returncode != 0
    assert ("setting DOMAIN_LIMITS['a.example']['rate']='fast' is not a rate like '10/60'"
            in log.read_text())
