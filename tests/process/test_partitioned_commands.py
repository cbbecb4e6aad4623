"""The commands on a crawl cut into 8 partitions (built as in
``tests/contract/test_partitioned_ops.py``): ``forget`` and ``seed`` find each URL's
fingerprint in its domain's partition, ``status`` shows the partitions and their balance."""

from __future__ import annotations

import json
import re

from crawler.redis.keys import CrawlKeys
from tests.conftest import run_scrapy
from tests.contract.test_partitioned_ops import COUNT, DOMAINS, build, page

KEYS = CrawlKeys("crawl", "site")


def lines(*urls: str) -> str:
    return "".join(f"{url}\n" for url in urls)


def test_forget_and_seed_find_each_url_in_its_domains_partition(redis_url: str) -> None:
    build(redis_url)
    known = [page(domain, 1) for domain in DOMAINS]
    seeded = run_scrapy(redis_url, "seed", "site", "-", stdin=lines(*known))
    assert "Seeded 0 URLs" in seeded.stdout and "12 already known" in seeded.stdout, seeded
    forgot = run_scrapy(redis_url, "forget", "site", "-",
                        stdin=lines(*known[:6], "http://d1.example/never-seen"))
    assert forgot.returncode == 0, forgot.stderr
    assert "Forgot 6 of 7 URLs" in forgot.stdout
    seeded = run_scrapy(redis_url, "seed", "site", "-", stdin=lines(*known))
    assert seeded.returncode == 0, seeded.stderr
    assert "Seeded 6 URLs" in seeded.stdout and "6 already known" in seeded.stdout


def test_status_shows_the_partitions_and_their_balance(redis_url: str) -> None:
    built = build(redis_url)
    shown = json.loads(run_scrapy(redis_url, "status", "site", "--json").stdout)
    assert shown["partitions"] == COUNT and shown["queued"] == sum(built.queued.values())
    text = run_scrapy(redis_url, "status", "site").stdout
    assert re.search(rf"\n  partitions +{COUNT}  \(queued max/mean "
                     rf"{shown['queued_balance']:.2f}\)\n", text), text
