"""The add-on on a real Scrapy crawler: it replaces scrapy-redis's scheduler, reads
scrapy-redis's settings and the environment, registers every default, and names the
embedded Redis when no other is given."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from scrapy.crawler import Crawler
from scrapy.utils.test import get_crawler

from crawler.config import DEFAULTS
from crawler.environment import ENVIRONMENT
from crawler.errors import ConfigError
from crawler.node.config import FrontierConfig
from crawler.redis import connection, embedded

ADDON = {"crawler.addon.RedisFrontier": 0}
# scrapy-redis's example project's settings.py, as shipped.
SCRAPY_REDIS = {
    "SCHEDULER": "scrapy_redis.scheduler.Scheduler",
    "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",
    "SCHEDULER_PERSIST": True,
}


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's shell may export REDIS_URL: these tests set what they need."""
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


def crawler_with(settings: dict[str, Any]) -> Crawler:
    return get_crawler(settings_dict={"ADDONS": ADDON, **settings})


def config_of(settings: dict[str, Any]) -> FrontierConfig:
    return FrontierConfig.from_settings(crawler_with(settings).settings)


def test_scrapy_redis_scheduler_and_dupefilter_are_replaced_and_said_so(
        caplog: pytest.LogCaptureFixture, redis_url: str) -> None:
    with caplog.at_level(logging.INFO, logger="crawler.addon"):
        crawler = crawler_with({**SCRAPY_REDIS, "REDIS_URL": redis_url})
    assert crawler.settings["SCHEDULER"] == "crawler.scheduler.RedisScheduler"
    assert crawler.settings["DUPEFILTER_CLASS"] == "scrapy.dupefilters.RFPDupeFilter"
    (line,) = [r.getMessage() for r in caplog.records if r.name == "crawler.addon"]
    assert "SCHEDULER=scrapy_redis.scheduler.Scheduler" in line
    assert "DUPEFILTER_CLASS=scrapy_redis.dupefilter.RFPDupeFilter" in line


def test_a_dupefilter_of_its_own_is_said_to_be_unused(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="crawler.addon"):
        crawler_with({"DUPEFILTER_CLASS": "scrapy.dupefilters.BaseDupeFilter"})
    assert "DUPEFILTER_CLASS=scrapy.dupefilters.BaseDupeFilter is not used" in caplog.text


def test_a_foreign_scheduler_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"setting SCHEDULER='scrapy.Spider' is neither"):
        crawler_with({"SCHEDULER": "scrapy.Spider"})


def test_every_default_is_registered() -> None:
    settings = crawler_with({}).settings
    for name, value in DEFAULTS.items():
        if value is not None:
            assert settings[name] == value, name
    given = crawler_with({"SCHEDULER_PREFETCH": 8}).settings
    assert given.getint("SCHEDULER_PREFETCH") == 8


@pytest.mark.parametrize(("settings", "url"), [
    ({"REDIS_HOST": "db.example", "REDIS_PORT": 6380}, "redis://db.example:6380"),
    ({"REDIS_PORT": "6381", "REDIS_DB": 2}, "redis://localhost:6381/2"),
    ({"REDIS_PARAMS": {"host": "h", "password": "p w", "db": 3, "username": "u"}},
     "redis://u:p%20w@h:6379/3"),
    ({"REDIS_URL": "redis://h:1/5", "REDIS_PARAMS": {"password": "pw", "db": 9}},
     "redis://:pw@h:1/5"),
    ({"REDIS_URL": "redis://:own@h/", "REDIS_PARAMS": {"password": "pw", "ssl": True}},
     "rediss://:own@h/"),
    ({"REDIS_PARAMS": {"unix_socket_path": "/run/r.sock", "db": 1}}, "unix:///run/r.sock?db=1"),
    ({"REDIS_PARAMS": '{"host": "h", "port": 7000}'}, "redis://h:7000"),
])
def test_scrapy_redis_addresses_are_read_as_scrapy_redis_reads_them(
        settings: dict[str, Any], url: str) -> None:
    assert config_of(settings).redis.url == url


def test_redis_params_timeouts_map_and_unknown_keys_are_refused(
        caplog: pytest.LogCaptureFixture) -> None:
    params = {"host": "h", "socket_timeout": 3, "socket_connect_timeout": 2,
              "retry_on_timeout": True, "encoding": "utf-8"}
    with caplog.at_level(logging.WARNING, logger="crawler.addon"):
        config = config_of({"REDIS_PARAMS": params})
    assert (config.redis.socket_timeout, config.redis.connect_timeout) == (3, 2)
    assert "REDIS_PARAMS encoding, retry_on_timeout make no difference" in caplog.text
    assert config_of({"REDIS_PARAMS": params, "REDIS_SOCKET_TIMEOUT": 7}).redis.socket_timeout == 7
    with pytest.raises(ConfigError, match=r"setting REDIS_PARAMS\['socket_timeout'\]='x' is"):
        config_of({"REDIS_PARAMS": {"socket_timeout": "x"}})
    with pytest.raises(ConfigError, match=r"setting REDIS_PARAMS has 'redis_cls', which this "
                                          r"engine cannot honour; it reads db, host"):
        config_of({"REDIS_PARAMS": {"redis_cls": "redis.cluster.RedisCluster"}})


@pytest.mark.parametrize(("name", "order"), [
    ("SpiderPriorityQueue", "priority"), ("SpiderQueue", "fifo"), ("SpiderStack", "lifo"),
    ("PriorityQueue", "priority"), ("FifoQueue", "fifo"), ("LifoQueue", "lifo"),
])
def test_scrapy_redis_queue_classes_old_and_new(name: str, order: str) -> None:
    assert config_of({"SCHEDULER_QUEUE_CLASS": f"scrapy_redis.queue.{name}"}).queue_order == order


def test_other_scrapy_redis_settings_are_read() -> None:
    config = config_of({"REDIS_START_URLS_KEY": "%(name)s:seeds", "REDIS_START_URLS_AS_SET": True,
                        "SCHEDULER_PERSIST": False, "SCHEDULER_FLUSH_ON_START": True,
                        "REDIS_ENCODING": "UTF8"})
    assert (config.redis.start_urls_key, config.redis.start_urls_as_set) == ("%(name)s:seeds",
                                                                     True)
    assert (config.persist, config.flush_on_start) == (False, True)
    with pytest.raises(ConfigError, match=r"setting REDIS_ENCODING='latin-1': this engine"):
        config_of({"REDIS_ENCODING": "latin-1"})


def test_scheduler_idle_before_close_is_said_to_be_unused(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="crawler.addon"):
        crawler_with({"SCHEDULER_IDLE_BEFORE_CLOSE": 5})
    assert "SCHEDULER_IDLE_BEFORE_CLOSE=5 (scrapy-redis's blocking pop) is not used" in (
        caplog.text)


def test_environment_applies_below_the_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://env-host:6379/4")
    monkeypatch.setenv("SCHEDULER_PREFETCH", "12")
    crawler = crawler_with({"REDIS_URL": "redis://project-host/0"})
    assert crawler.settings["REDIS_URL"] == "redis://env-host:6379/4"
    assert FrontierConfig.from_settings(crawler.settings).prefetch == 12
    crawler = get_crawler(settings_dict={"ADDONS": ADDON})
    assert crawler.settings.getint("SCHEDULER_PREFETCH") == 12
    cmdline = get_crawler(settings_dict={"ADDONS": ADDON})
    cmdline.settings.frozen = False  # as -s would have set it before the add-on ran
    cmdline.settings.set("SCHEDULER_PREFETCH", 3, priority="cmdline")
    assert FrontierConfig.from_settings(cmdline.settings).prefetch == 3


def test_partitions_and_strict_wait_come_from_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEDULER_PARTITIONS", "64")
    monkeypatch.setenv("REDIS_WAIT_STRICT", "True")
    settings = crawler_with({}).settings
    assert FrontierConfig.from_settings(settings).partitions == 64
    assert FrontierConfig.from_settings(settings).redis.wait_strict is True


@pytest.mark.parametrize(("name", "value", "message"), [
    ("SCHEDULER_PREFETCH", "abc", "environment variable SCHEDULER_PREFETCH='abc' is not a number"),
    ("SCHEDULER_PREFETCH", "0", "environment variable SCHEDULER_PREFETCH=0 must be at least 1"),
    ("SCHEDULER_QUEUE_ORDER", "random", "environment variable SCHEDULER_QUEUE_ORDER='random'"),
    ("CONCURRENT_REQUESTS", "1.5", "environment variable CONCURRENT_REQUESTS='1.5' is not a whole"),
    ("SCHEDULER_PARTITIONS", "3", r"environment variable SCHEDULER_PARTITIONS=3 must be 0 \(the "
                                  r"default\) or a power of two"),
    ("REDIS_WAIT_STRICT", "maybe", "environment variable REDIS_WAIT_STRICT='maybe'"),
])
def test_a_bad_environment_value_is_named(monkeypatch: pytest.MonkeyPatch, name: str, value: str,
                                          message: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        crawler_with({})


@pytest.fixture
def embedded_dir(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "redis-data"
    yield folder
    if (folder / "redis.pid").exists():
        client = redis.Redis.from_url(embedded.socket_url(str(folder)))
        try:
            client.shutdown(nosave=True)
        except redis.ConnectionError:
            pass
        client.close()


def test_no_address_means_the_embedded_redis_said_in_one_line(
        embedded_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    crawler = crawler_with({"REDIS_EMBEDDED_DIR": str(embedded_dir)})
    socket = embedded.socket_url(str(embedded_dir))
    assert crawler.settings["REDIS_URL"] == socket, "scrapy-redis's parts must find it too"
    config = FrontierConfig.from_settings(crawler.settings)
    with caplog.at_level(logging.INFO, logger="crawler.redis.connection"):
        assert connection.resolve_url(config.redis) == socket
    (line,) = [r.getMessage() for r in caplog.records if r.name == "crawler.redis.connection"]
    assert line == (f"Using the embedded Redis at {socket}: REDIS_URL is not set (set it to "
                    "use another Redis)")
