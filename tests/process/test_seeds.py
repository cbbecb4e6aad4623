"""Seeds of every JSON shape: built into requests the same way by ``scrapy seed`` and by a
node; what cannot be built is reported as ``FILE:LINE`` or dead-lettered with its reason."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import redis

from crawler.items.stream import read_items
from crawler.redis.keys import CrawlKeys
from tests.conftest import Site, run_scrapy, start_node, wait_all
from tests.helpers import expected_titles, export_titles

KEYS = CrawlKeys("crawl", "site")
TEST_SPIDERS = {"SPIDER_MODULES": "spiders,tests.spiders"}


def stored(client: redis.Redis, keys: CrawlKeys = KEYS) -> list[str]:
    return [line.decode() for line in client.lrange(keys.start_urls, 0, -1)]


def test_seed_reports_what_a_node_would_fail_on_and_seeds_the_rest(
        redis_url: str, client: redis.Redis, tmp_path: Path) -> None:
    lines = ['{"url": "http://x.example/", "page": 2}',
             '{"url": "http://x.example/", "page": null}',
             '{"url": "http://x.example/b", "meta": "m"}',
             "http://y.example/"]
    (tmp_path / "seeds.txt").write_text("\n".join(lines) + "\n")
    result = run_scrapy(redis_url, "seed", "site", str(tmp_path / "seeds.txt"))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    where = tmp_path / "seeds.txt"
    assert result.stderr.splitlines() == [
        f"{where}:2: 'page' is null: a form value must be text or a number",
        f"{where}:3: 'meta' must be an object, not text"]
    assert "Seeded 2 URLs" in result.stdout and "2 bad lines" in result.stdout
    assert [json.loads(line) if line.startswith("{") else line for line in stored(client)] \
        == [{"url": "http://x.example/", "page": 2}, "http://y.example/"]


def test_a_seed_file_that_is_not_utf8_is_reported_line_by_line(
        redis_url: str, client: redis.Redis, tmp_path: Path) -> None:
    where = tmp_path / "latin1.txt"
    where.write_bytes(b"\xef\xbb\xbfhttp://a.example/\nhttp://b.example/caf\xe9\n"
                      b"http://c.example/\n\xff\n")
    result = run_scrapy(redis_url, "seed", "site", str(where))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"{where}:2: not UTF-8 text",
                                          f"{where}:4: not UTF-8 text"]
    assert stored(client) == ["http://a.example/", "http://c.example/"]  # BOM dropped


def test_forget_reports_a_line_that_is_not_utf8(redis_url: str, small_site: Site,
                                                tmp_path: Path) -> None:
    run_scrapy(redis_url, "seed", "site", "-", stdin=small_site.page(0) + "\n")
    assert wait_all([start_node(redis_url, tmp_path / "node.log")]) == [0]
    where = tmp_path / "forget.txt"
    where.write_bytes(f"{small_site.page(5)}\n\xe9\n".encode("latin-1"))
    result = run_scrapy(redis_url, "forget", "site", str(where))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"{where}:2: not UTF-8 text"]
    assert "Forgot 1 of 1 URLs" in result.stdout and "1 bad lines" in result.stdout


def test_seed_builds_lines_with_the_spiders_own_hook(redis_url: str, client: redis.Redis,
                                                     tmp_path: Path) -> None:
    where = tmp_path / "ids.txt"
    where.write_text("3\nboom\nnonsense\nnone\n3\n4\n")
    result = run_scrapy(redis_url, "seed", "seed_hook", str(where), settings=TEST_SPIDERS)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{where}:2: the spider's make_request_from_data raised ValueError: no page called boom",
        f"{where}:3: the spider's make_request_from_data returned int 42, not a Request or "
        "requests",
        f"{where}:4: the spider's make_request_from_data made no request of it"]
    # Lines go to Redis as written (the hook owns the format); line 5 is line 1's request.
    assert "Seeded 2 URLs" in result.stdout and "1 already known" in result.stdout
    assert stored(client, CrawlKeys("crawl", "seed_hook")) == ["3", "4"]
    recrawl = run_scrapy(redis_url, "seed", "seed_hook", "--recrawl", "-", stdin="5\n",
                         settings=TEST_SPIDERS)
    assert recrawl.returncode == 1
    assert "<stdin>:1: --recrawl: the spider's make_request_from_data made a request " \
        "without dont_filter" in recrawl.stderr


def test_a_node_fetches_form_seeds_and_dead_letters_what_it_cannot_build(
        redis_url: str, client: redis.Redis, small_site: Site, tmp_path: Path) -> None:
    page = f"{small_site.url}/page"
    client.rpush(KEYS.start_urls,
                 json.dumps({"url": page, "id": 3, "lang": "en", "form": 1}),
                 json.dumps({"url": page, "id": 4, "lang": "en", "page": None}),
                 json.dumps({"url": f"{page}?id=5&lang=en&big=1", "priority": 10 ** 30}),
                 small_site.page(0))
    log = tmp_path / "node.log"
    assert wait_all([start_node(redis_url, log)], timeout=120) == [0]  # ends by itself
    urls = {item["url"] for _, item in read_items(client, KEYS)}
    assert f"{page}?id=3&lang=en&form=1" in urls  # the form seed was fetched
    assert f"{page}?id=5&lang=en&big=1" in urls
    (dead,) = [json.loads(d) for d in client.lrange(KEYS.dead, 0, -1)]
    assert "'page' is null: a form value must be text or a number" in dead["reason"]
    assert export_titles(redis_url, tmp_path) == expected_titles(small_site.pages) + \
        Counter({"Page 3": 1, "Page 5": 1})
