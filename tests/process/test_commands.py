"""The commands a user runs: seed, status, export, reset, and what they say on bad input."""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import redis

from crawler.redis.keys import CrawlKeys
from tests.conftest import Site, free_port, run_scrapy, start_node, wait_all

KEYS = CrawlKeys("crawl", "site")


def test_seed_reports_bad_lines_by_number_and_seeds_the_rest(redis_url: str,
                                                             client: redis.Redis,
                                                             tmp_path: Path) -> None:
    seeds = tmp_path / "urls.txt"
    seeds.write_text(
        "# comment\n"
        "https://example.com/a\n"
        "not a url\n"
        '{"url": "https://example.com/b", "meta": {"k": 1}, "priority": 3}\n'
        '{"url": "https://example.com/c", "priority": "high"}\n'
        "{bad json\n"
        "\n"
        "https://example.com/a#again\n")
    result = run_scrapy(redis_url, "seed", "site", str(seeds))
    assert result.returncode == 1
    assert f"{seeds}:3: not an http(s) URL: 'not a url'" in result.stderr
    assert f"{seeds}:5: 'priority' must be an integer" in result.stderr
    assert f"{seeds}:6: bad JSON" in result.stderr
    assert "Seeded 2 URLs into crawl:{site}:start_urls; 1 already known; 3 bad lines" in \
        result.stdout
    stored = [json.loads(s) if s.startswith(b"{") else s.decode()
              for s in client.lrange(KEYS.start_urls, 0, -1)]
    assert stored == ["https://example.com/a",
                      {"url": "https://example.com/b", "meta": {"k": 1}, "priority": 3}]


def test_seed_skips_what_the_crawl_has_fetched(redis_url: str, small_site: Site,
                                               tmp_path: Path) -> None:
    run_scrapy(redis_url, "seed", "site", "-", stdin=small_site.page(0) + "\n")
    assert wait_all([start_node(redis_url, tmp_path / "node.log")]) == [0]
    again = run_scrapy(redis_url, "seed", "site", "-",
                       stdin=f"{small_site.page(0)}\n{small_site.page(5)}\n{small_site.url}/new\n")
    assert again.returncode == 0, again.stderr
    assert "Seeded 1 URLs into crawl:{site}:start_urls; 2 already known" in again.stdout


def test_seed_names_a_missing_file(redis_url: str, tmp_path: Path) -> None:
    result = run_scrapy(redis_url, "seed", "site", str(tmp_path / "nope.txt"))
    assert result.returncode != 0
    assert "cannot read" in result.stderr and "nope.txt" in result.stderr


def test_commands_refuse_an_unknown_crawl(redis_url: str) -> None:
    result = run_scrapy(redis_url, "status", "nosuch")
    assert result.returncode != 0
    assert "no spider named 'nosuch'" in result.stderr


@pytest.mark.parametrize("command", [["crawl", "site"], ["status", "site"],
                                     ["seed", "site", "-"], ["export", "site", "-o", "x.jsonl"]])
def test_unreachable_redis_is_named_with_the_password_hidden(command: list[str]) -> None:
    url = f"redis://crawler:s3cret@127.0.0.1:{free_port()}/0"
    result = run_scrapy(url, *command, stdin="https://example.com/\n")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: Redis at redis://crawler:***@127.0.0.1:{url.split(':')[3]}")
    assert "s3cret" not in result.stderr + result.stdout


def crawl_small_site(redis_url: str, site: Site, folder: Path) -> None:
    run_scrapy(redis_url, "seed", "site", "-", stdin=site.page(0) + "\n")
    assert wait_all([start_node(redis_url, folder / "node.log")]) == [0]


def test_export_writes_every_format(redis_url: str, small_site: Site, tmp_path: Path) -> None:
    crawl_small_site(redis_url, small_site, tmp_path)
    for ext in ("jsonl", "json", "csv", "xml"):
        result = run_scrapy(redis_url, "export", "site", "-o", str(tmp_path / f"items.{ext}"))
        assert result.returncode == 0, result.stderr
        assert f"Exported {small_site.pages} items" in result.stdout
    lines = (tmp_path / "items.jsonl").read_text().splitlines()
    as_json = json.loads((tmp_path / "items.json").read_text())
    with (tmp_path / "items.csv").open() as handle:
        as_csv = list(csv.DictReader(handle))
    as_xml = ET.parse(tmp_path / "items.xml").getroot().findall("item")
    titles = {f"Page {i}" for i in range(small_site.pages)}
    assert {json.loads(line)["title"] for line in lines} == titles
    assert {row["title"] for row in as_json} == titles
    assert {row["title"] for row in as_csv} == titles
    assert {item.findtext("title") for item in as_xml} == titles
    assert set(as_json[0]) == {"url", "status", "title", "text", "links", "fetched_at", "latency"}


def test_export_refuses_an_unknown_format(redis_url: str, tmp_path: Path) -> None:
    result = run_scrapy(redis_url, "export", "site", "-o", str(tmp_path / "items.parquet"))
    assert result.returncode != 0
    assert "cannot tell the format" in result.stderr


def test_status_shows_the_crawl(redis_url: str, small_site: Site, tmp_path: Path) -> None:
    crawl_small_site(redis_url, small_site, tmp_path)
    text = run_scrapy(redis_url, "status", "site")
    assert text.returncode == 0, text.stderr
    assert f"Crawl 'site' at {redis_url}" in text.stdout
    as_json = json.loads(run_scrapy(redis_url, "status", "site", "--json").stdout)
    assert as_json["items"] == small_site.pages
    assert as_json["fingerprints"] == small_site.pages
    assert as_json["queued"] == as_json["in_progress"] == as_json["dead_letters"] == 0
    assert as_json["nodes"] == [], "a node that stopped cleanly is still listed"


def test_reset_deletes_one_crawl_only(redis_url: str, client: redis.Redis) -> None:
    client.rpush(KEYS.start_urls, "https://example.com/")
    client.hset(KEYS.stats, "done", 1)
    client.set("crawl:{other}:queue", "keep")
    client.set("unrelated", "keep")
    refused = run_scrapy(redis_url, "reset", "site")
    assert refused.returncode == 1 and "pass --yes" in refused.stderr
    assert client.exists(KEYS.stats)
    done = run_scrapy(redis_url, "reset", "site", "--yes")
    assert done.returncode == 0 and "Deleted 2 keys" in done.stdout
    assert sorted(client.keys()) == [b"crawl:{other}:queue", b"unrelated"]
