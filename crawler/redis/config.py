"""The Redis settings: which Redis, how to reach it, and where a crawl's keys live."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scrapy.settings import BaseSettings

from crawler.redis.address import check_encoding, redis_params, redis_url
from crawler.setting_values import SettingValues

DEFAULTS: dict[str, Any] = {
    "REDIS_URL": None,
    "REDIS_KEY_PREFIX": "crawl",
    "REDIS_START_URLS_KEY": None,
    "REDIS_START_URLS_AS_SET": False,
    "REDIS_EMBEDDED_DIR": ".crawler-data/redis",
    "REDIS_CONNECT_TIMEOUT": 5.0,
    "REDIS_SOCKET_TIMEOUT": 10.0,
    "REDIS_SSL_CA_CERTS": None,
    "REDIS_SSL_CERTFILE": None,
    "REDIS_SSL_KEYFILE": None,
    "REDIS_WAIT_REPLICAS": None,  # None: 1 on a Cluster or Sentinel with replicas, else 0
    "REDIS_WAIT_TIMEOUT_MS": 500,
    "REDIS_WAIT_STRICT": False,  # True: a master short of replicas takes no write as saved
}


@dataclass(frozen=True)
class RedisConfig:
    """The Redis settings, typed and checked (scrapy-redis's names read as it reads them)."""

    url: str | None = field(repr=False)  # may hold a password; None: the embedded Redis
    key_prefix: str
    start_urls_key: str | None
    start_urls_as_set: bool
    embedded_dir: str
    connect_timeout: float
    socket_timeout: float
    ssl_ca_certs: str | None
    ssl_certfile: str | None
    ssl_keyfile: str | None
    # replicas a write that would lose a request if lost must reach (WAIT) before it counts
    # as saved; None: 1 on a Cluster or Sentinel with replicas, 0 on a single Redis
    wait_replicas: int | None = None
    wait_timeout_ms: int = 500
    # a master with fewer replicas than wait_replicas: its writes go unwaited (False), or
    # none counts as saved until it has them again (True)
    wait_strict: bool = False

    @classmethod
    def from_settings(cls, settings: BaseSettings,
                      environ: Mapping[str, str] | None = None) -> RedisConfig:
        """Build it from Scrapy settings and the environment; ``ConfigError`` names a bad
        value and where it came from."""
        values = SettingValues(settings, DEFAULTS, environ)
        check_encoding(values.settings, values.where)
        params = redis_params(values.settings, values.where)

        def timeout(name: str, param: str) -> float:
            if param in params and not values.given(name):
                return values.number(name, 0.1, params[param],
                                     f"{values.where('REDIS_PARAMS')}[{param!r}]")
            return values.number(name, 0.1)

        return cls(
            url=redis_url(values.settings, params, values.where),
            key_prefix=str(values.get("REDIS_KEY_PREFIX")),
            start_urls_key=values.raw("REDIS_START_URLS_KEY"),
            start_urls_as_set=values.flag("REDIS_START_URLS_AS_SET"),
            embedded_dir=str(values.get("REDIS_EMBEDDED_DIR")),
            connect_timeout=timeout("REDIS_CONNECT_TIMEOUT", "socket_connect_timeout"),
            socket_timeout=timeout("REDIS_SOCKET_TIMEOUT", "socket_timeout"),
            ssl_ca_certs=values.optional_path("REDIS_SSL_CA_CERTS", params.get("ssl_ca_certs")),
            ssl_certfile=values.optional_path("REDIS_SSL_CERTFILE", params.get("ssl_certfile")),
            ssl_keyfile=values.optional_path("REDIS_SSL_KEYFILE", params.get("ssl_keyfile")),
            wait_replicas=(int(values.number("REDIS_WAIT_REPLICAS", 0))
                           if values.raw("REDIS_WAIT_REPLICAS") not in (None, "") else None),
            wait_timeout_ms=int(values.number("REDIS_WAIT_TIMEOUT_MS", 1)),
            wait_strict=values.flag("REDIS_WAIT_STRICT"),
        )
