"""``scrapy dashboard``: its JSON and ``/metrics`` against a real crawl, read-only and for
localhost only, and its page in headless Chromium (the screenshot is kept: set
``TEST_ARTIFACTS_DIR`` to choose where)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lxml.html
import pytest
import redis

from crawler.redis.keys import CrawlKeys
from tests.conftest import ROOT, Site, node_env, run_scrapy, scrapy_command, start_node, wait_all
from tests.helpers import queue_raw

KEYS = CrawlKeys("crawl", "site")
OTHER = CrawlKeys("crawl", "other")
BAD_ENTRY = b"9000000000000001rnot json"  # decodes to nothing: one dead letter (an id the
# sequence does not give the seeds)
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which(
    "chromium-browser")
# Headless, and nothing that reaches beyond loopback: no updates, sync, QUIC or pings.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                  "--no-default-browser-check", "--hide-scrollbars", "--window-size=1280,1400"]
SAMPLE = re.compile(r'^([a-z_]+)(\{[a-z_]+="(?:[^"\\]|\\.)*"(?:,[a-z_]+="(?:[^"\\]|\\.)*")*\})? '
                    r"(-?[0-9.e+-]+)$")


@contextmanager
def dashboard(redis_url: str, *args: str) -> Iterator[str]:
    """A ``scrapy dashboard`` process on a free port; yields its URL, stops it with Ctrl-C."""
    process = subprocess.Popen(scrapy_command("dashboard", "--port", "0", *args), cwd=ROOT,
                               env=node_env(redis_url), stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    try:
        first = process.stdout.readline()
        found = re.search(r"http://\S+/", first)
        assert found, f"no URL in {first!r}"
        yield found.group(0)
        process.send_signal(signal.SIGINT)
        assert process.wait(20) == 0, "Ctrl-C did not stop the dashboard cleanly"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()


def fetch(url: str, method: str = "GET", host: str | None = None) -> tuple[int, Any, bytes]:
    """Status, headers and body of one request."""
    request = urllib.request.Request(url, method=method)
    if host is not None:
        request.add_header("Host", host)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers, error.read()


def get_json(url: str) -> Any:
    code, headers, body = fetch(url)
    assert code == 200, body
    assert headers["Content-Type"] == "application/json"
    return json.loads(body)


def parse_metrics(text: str) -> dict[str, float]:
    """``name{labels}`` -> value; checks the format and that every family is typed."""
    typed = set(re.findall(r"^# TYPE ([a-z_]+) (?:gauge|counter)$", text, re.M))
    values = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        found = SAMPLE.match(line)
        assert found, f"not a Prometheus sample: {line!r}"
        assert found.group(1) in typed, f"no # TYPE for {found.group(1)}"
        values[found.group(1) + (found.group(2) or "")] = float(found.group(3))
    return values


def writing_commands(client: redis.Redis) -> list[str]:
    """The commands run since ``CONFIG RESETSTAT`` that may write (scripts included)."""
    table = client.command()
    found = []
    for stat in client.info("commandstats"):
        name = stat.removeprefix("cmdstat_")
        parent = table.get(name.partition("|")[0], {})
        flags = set(parent.get("flags", []))
        for sub in parent.get("subcommands", []):
            if sub[0].decode() == name:
                flags = {f.decode() for f in sub[2]}
        if flags & {"write", "may_replicate"}:
            found.append(name)
    return found


def test_json_and_metrics_match_a_real_crawl(redis_url: str, client: redis.Redis,
                                             small_site: Site, tmp_path: Path) -> None:
    queue_raw(client, KEYS, {BAD_ENTRY: -10})
    run_scrapy(redis_url, "seed", "site", "-", stdin=small_site.page(0) + "\n")
    assert wait_all([start_node(redis_url, tmp_path / "node.log")]) == [0]
    secs, _ = client.time()
    client.hset(OTHER.stats, mapping={"enqueued": 5, "done": 2})
    queue_raw(client, OTHER, {b"0000000000000009rx": 0})
    client.hset(OTHER.nodes, "h:1:x", json.dumps({"beat": secs - 100, "host": "h",
                                                  "pages": 2, "idle_for": -1}))
    status = json.loads(run_scrapy(redis_url, "status", "site", "--json").stdout)
    client.config_resetstat()

    with dashboard(redis_url) as url:
        overview = get_json(url + "api/crawls")
        detail = get_json(url + "api/crawls/site")
        code, headers, body = fetch(url + "metrics")

    assert writing_commands(client) == []
    assert overview["redis"] == status.pop("redis") == redis_url
    assert [c["crawl"] for c in overview["crawls"]] == ["other", "site"]
    volatile = ("server_time", "pages_per_minute")
    for shown in (overview["crawls"][1], detail):
        assert {k: shown[k] for k in status if k not in volatile} == \
            {k: v for k, v in status.items() if k not in volatile}
    assert status["state"] == "finished" and status["items"] == small_site.pages
    other = overview["crawls"][0]
    assert (other["state"], other["queued"], other["done"]) == ("stopped", 1, 2)
    assert (other["nodes_alive"], other["nodes_dead"]) == (0, 1)
    assert [(d["id"], d["entry"]) for d in detail["dead"]] == [("9000000000000001", "rnot json")]
    assert detail["dead"][0]["reason"].startswith("DecodeError: not JSON")
    assert len(detail["latest_items"]) == 10
    assert all(i["item"]["title"].startswith("Page ") for i in detail["latest_items"])
    assert detail["chart"] and detail["chart"][-1]["t"] <= 0

    assert code == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    metrics = parse_metrics(body.decode())
    site = '{crawl="site"}'
    assert metrics[f"crawler_items_stored_total{site}"] == small_site.pages
    assert metrics[f"crawler_fingerprints{site}"] == small_site.pages
    assert metrics[f"crawler_requests_done_total{site}"] == status["done"]
    assert metrics[f"crawler_dead_letters{site}"] == 1
    assert metrics[f"crawler_queued{site}"] == metrics[f"crawler_in_progress{site}"] == 0
    assert metrics['crawler_state{crawl="site",state="finished"}'] == 1
    assert metrics['crawler_state{crawl="other",state="stopped"}'] == 1
    assert metrics['crawler_nodes_dead{crawl="other"}'] == 1
    assert metrics['crawler_node_up{crawl="other",node="h:1:x",host="h"}'] == 0
    assert metrics['crawler_node_pages_total{crawl="other",node="h:1:x",host="h"}'] == 2
    assert f"crawler_eta_seconds{site}" not in metrics


def test_it_is_read_only_and_answers_only_localhost(redis_url: str,
                                                   client: redis.Redis) -> None:
    client.hset(KEYS.stats, "enqueued", 1)
    client.hset(OTHER.stats, "enqueued", 1)
    client.config_resetstat()
    with dashboard(redis_url, "site") as url:
        port = url.rsplit(":", 1)[1].rstrip("/")
        assert url == f"http://127.0.0.1:{port}/", "not bound to loopback by default"
        assert [c["crawl"] for c in get_json(url + "api/crawls")["crawls"]] == ["site"]
        for path in ("api/crawls/other", "api/crawls/nosuch", "nope"):
            assert fetch(url + path)[0] == 404, path
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            assert fetch(url + "api/crawls", method)[0] == 405, method
        assert fetch(url + "api/crawls", host=f"evil.example:{port}")[0] == 403
        assert fetch(url + "api/crawls", host=f"localhost:{port}")[0] == 200
        for path, kind in (("", "text/html"), ("dashboard.js", "text/javascript"),
                           ("dashboard.css", "text/css"), ("metrics", "text/plain")):
            code, headers, _ = fetch(url + path)
            assert code == 200 and headers["Content-Type"].startswith(kind), path
            assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert writing_commands(client) == []


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    """Where a test leaves files for people to look at: ``TEST_ARTIFACTS_DIR`` if set."""
    folder = Path(os.environ.get("TEST_ARTIFACTS_DIR") or tmp_path / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def counter(page: Any, name: str) -> int:
    texts = page.xpath(f'//span[@data-counter="{name}"]/text()')
    assert len(texts) == 1, f"no counter {name!r} on the page"
    return int(texts[0].replace(",", ""))


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed "
                    "(Debian: apt-get install chromium)")
def test_the_page_shows_the_counters_and_draws_the_chart(
        redis_url: str, client: redis.Redis, small_site: Site, tmp_path: Path,
        artifacts: Path) -> None:
    assert CHROMIUM is not None
    queue_raw(client, KEYS, {BAD_ENTRY: -10})
    run_scrapy(redis_url, "seed", "site", "-", stdin=small_site.page(0) + "\n")
    node = start_node(redis_url, tmp_path / "node.log", DOWNLOAD_DELAY="0.15",
                      CONCURRENT_REQUESTS_PER_DOMAIN="1")
    try:
        deadline = time.monotonic() + 90
        while client.llen(KEYS.series) < 2:  # two cluster samples: 10 s into the crawl
            assert node.poll() is None, "the crawl ended before the series had two samples"
            assert time.monotonic() < deadline, "no cluster samples after 90 s"
            time.sleep(0.5)
        shot = tmp_path / "dashboard.png"
        home = tmp_path / "home"
        with dashboard(redis_url) as url:
            before = (int(client.hget(KEYS.stats, "done") or 0), client.xlen(KEYS.items))
            browser = subprocess.run(
                [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                 "--virtual-time-budget=5000", f"--screenshot={shot}", "--dump-dom", url],
                env={**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
                     "XDG_CACHE_HOME": str(home / ".cache")},
                capture_output=True, text=True, timeout=120)
            after = (int(client.hget(KEYS.stats, "done") or 0), client.xlen(KEYS.items))
        assert node.poll() is None, "the crawl ended while the page loaded: slow it down"
    finally:
        node.send_signal(signal.SIGINT)
        try:
            node.wait(60)
        except subprocess.TimeoutExpired:
            node.kill()
            node.wait()
    assert browser.returncode == 0, browser.stderr[-2000:]
    page = lxml.html.fromstring(browser.stdout)
    assert page.xpath("//body/@data-loaded") == ["1"], "the page never loaded its data"
    assert page.get_element_by_id("error").get("hidden") is not None, "the page shows an error"
    assert page.xpath('//tr[@data-crawl="site"]//span[contains(@class, "state")]/text()') == \
        ["running"]
    assert before[0] <= counter(page, "done") <= after[0]
    assert before[1] <= counter(page, "items") <= after[1]
    assert counter(page, "dead_letters") == 1
    chart = page.xpath('//*[@id="chart"]')[0]
    assert int(chart.get("data-points")) >= 3
    queue_line = chart.xpath('.//*[local-name()="polyline"][@class="line-queue"]/@points')
    assert queue_line and len(queue_line[0].split()) >= 2, "no queue line drawn"
    assert chart.xpath('.//*[@class="line-ppm" or @class="dot-ppm"]'), "no pages/min drawn"
    assert "alive" in page.xpath('string(//table[@id="nodes"]/tbody)')
    assert "DecodeError" in page.xpath('string(//table[@id="dead"]/tbody)')
    assert "Page " in page.xpath('string(//table[@id="items"]/tbody)')
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    shutil.copy(shot, artifacts / "dashboard.png")
    print(f"\nscreenshot: {artifacts / 'dashboard.png'}")


def test_host_check_allows_loopback_the_bound_address_and_allow_host_only(
        redis_url: str) -> None:
    with dashboard(redis_url, "--bind", "127.0.0.2", "--allow-host", "Crawler.Test",
                   "--allow-host", "[fd00::5]") as url:
        port = url.rsplit(":", 1)[1].rstrip("/")
        assert url == f"http://127.0.0.2:{port}/"
        for host in (f"127.0.0.2:{port}", f"localhost:{port}", f"crawler.test:{port}",
                     "[fd00::5]", f"[::1]:{port}"):
            assert fetch(url + "api/crawls", host=host)[0] == 200, host
        for host in (f"evil.example:{port}", "crawler.test.evil.example", "10.0.0.5", ""):
            assert fetch(url + "api/crawls", host=host)[0] == 403, host
