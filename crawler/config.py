"""Every setting the engine reads, read once, in one frozen object."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scrapy.settings import SETTINGS_PRIORITIES, BaseSettings

from crawler.environment import apply_environment
from crawler.errors import ConfigError
from crawler.frontier.fingerprints import describe
from crawler.frontier.limits import Politeness, from_values
from crawler.redis.address import check_encoding, redis_params, redis_url

QUEUE_ORDERS = ("priority", "fifo", "lifo")
QUIET_FLUSHES = 5  # writes nobody waits for are this many flush delays apart

# scrapy-redis names its queue variants by class (0.9.1 still ships the older names);
# its users may keep that setting.
_SCRAPY_REDIS_QUEUES = {
    "scrapy_redis.queue.PriorityQueue": "priority",
    "scrapy_redis.queue.FifoQueue": "fifo",
    "scrapy_redis.queue.LifoQueue": "lifo",
    "scrapy_redis.queue.SpiderPriorityQueue": "priority",
    "scrapy_redis.queue.SpiderQueue": "fifo",
    "scrapy_redis.queue.SpiderStack": "lifo",
}
_ADDON = SETTINGS_PRIORITIES["addon"]

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
    "SCHEDULER_PERSIST": True,
    "SCHEDULER_FLUSH_ON_START": False,
    "SCHEDULER_QUEUE_ORDER": "priority",
    "SCHEDULER_QUEUE_CLASS": None,
    "SCHEDULER_PREFETCH": 64,
    "SCHEDULER_BATCH_SIZE": 500,
    "SCHEDULER_LEASE_SECONDS": 10.0,
    "SCHEDULER_HEARTBEAT_SECONDS": 1.0,
    "SCHEDULER_NODE_TIMEOUT": 10.0,
    "SCHEDULER_NODE_ID": None,
    "SCHEDULER_FLUSH_DELAY": 0.005,
    "SCHEDULER_MAX_ATTEMPTS": 5,
    "MAX_IDLE_TIME_BEFORE_CLOSE": 10.0,
    "FINGERPRINT_STORE": "exact",
    "FINGERPRINT_BUCKET_BITS": 16,
    "BLOOM_CAPACITY": 100_000_000,
    "BLOOM_BITS_PER_URL": 32,
    "RECRAWL_AFTER_DAYS": 0,
    "DOMAIN_CONCURRENCY": 0,
    "DOMAIN_RATE": "",
    "DOMAIN_LIMITS": {},
    "ROBOTSTXT_MAX_DELAY": 60.0,
    "ITEM_KEY_FIELD": "url",
    "POSTGRES_DSN": None,
    "POSTGRES_TABLE": "crawl_items",
    "POSTGRES_BATCH_SIZE": 500,
    "POSTGRES_BUFFER_ITEMS": 10000,
    "POSTGRES_CLOSE_TIMEOUT": 10.0,
}


def _check_dsn(dsn: str, where: str) -> None:
    from psycopg import Error
    from psycopg.conninfo import conninfo_to_dict

    try:
        conninfo_to_dict(dsn)
    except Error:  # its message may quote the password
        raise ConfigError(f"{where} is not a PostgreSQL connection string: expected "
                          "postgresql://USER:PASSWORD@HOST:PORT/DB or key=value pairs") from None


def _node_id(value: Any, where: str) -> str | None:
    if value in (None, ""):
        return None
    text = str(value)
    if not text.isprintable() or " " in text or len(text) > 200:
        raise ConfigError(f"{where}={text[:60]!r} must be up to 200 "
                          "printable characters without spaces")
    return text


@dataclass(frozen=True)
class FrontierConfig:
    """The engine's settings, typed and checked (defaults in ``DEFAULTS``)."""

    redis_url: str | None = field(repr=False)  # may hold a password
    key_prefix: str
    start_urls_key: str | None
    start_urls_as_set: bool
    embedded_dir: str
    connect_timeout: float
    socket_timeout: float
    ssl_ca_certs: str | None
    ssl_certfile: str | None
    ssl_keyfile: str | None
    persist: bool
    flush_on_start: bool
    queue_order: str
    prefetch: int
    batch_size: int
    lease_seconds: float
    heartbeat_seconds: float
    node_timeout: float
    node_id: str | None
    flush_delay: float
    max_attempts: int
    idle_timeout: float
    fingerprint_store: str
    bucket_bits: int
    bloom_capacity: int
    bloom_bits_per_url: int
    recrawl_days: int
    politeness: Politeness
    item_key_field: str
    # The PostgreSQL item table (pipelines/postgres.py); the DSN may hold a password.
    postgres_dsn: str | None = field(repr=False)
    postgres_table: tuple[str, ...]
    postgres_batch_size: int
    postgres_buffer_items: int
    postgres_close_timeout: float

    @property
    def quiet_interval(self) -> float:
        """Seconds between two writes nobody waits for (acks and pushes alone, items)."""
        return QUIET_FLUSHES * self.flush_delay

    def fingerprint_layout(self) -> str:
        """The fingerprint layout these settings ask for, as recorded with a new crawl."""
        return describe(self.fingerprint_store, self.bucket_bits, self.bloom_capacity,
                        self.bloom_bits_per_url)

    @classmethod
    def from_settings(cls, settings: BaseSettings,
                      environ: Mapping[str, str] | None = None) -> FrontierConfig:
        """Build the config from Scrapy settings and the environment variables of
        ``crawler.environment``; a bad value raises ``ConfigError`` naming its source."""
        merged = BaseSettings()
        merged.update(settings)
        from_env = apply_environment(merged, environ)
        settings = merged

        def where(name: str) -> str:
            return f"{'environment variable' if name in from_env else 'setting'} {name}"

        def get(name: str) -> Any:
            value = settings.get(name)
            return DEFAULTS[name] if value is None else value

        def given(name: str) -> bool:
            """Set by the user, not registered by the add-on as a default."""
            return settings.get(name) is not None and settings.getpriority(name) != _ADDON

        def number(name: str, minimum: float, param: str | None = None) -> float:
            """``name``'s value, or when given ``REDIS_PARAMS[param]``'s."""
            raw, source = get(name), where(name)
            if param is not None:
                raw, source = params[param], f"{where('REDIS_PARAMS')}[{param!r}]"
            try:
                value = float(raw)
            except (TypeError, ValueError):
                raise ConfigError(f"{source}={raw!r} is not a number") from None
            if value < minimum:
                raise ConfigError(f"{source}={raw} must be at least {minimum:g}")
            return value

        def optional_path(name: str, fallback: Any = None) -> str | None:
            value = settings.get(name) if given(name) else fallback
            if value in (None, ""):
                return None
            if not os.path.isfile(str(value)):
                raise ConfigError(f"{where(name)}={value!r}: no such file")
            return str(value)

        order = str(get("SCHEDULER_QUEUE_ORDER")).lower()
        queue_class = settings.get("SCHEDULER_QUEUE_CLASS")
        if queue_class is not None:
            order = _SCRAPY_REDIS_QUEUES.get(str(queue_class), "")
            if not order:
                raise ConfigError(
                    f"{where('SCHEDULER_QUEUE_CLASS')}={queue_class!r} is not one of "
                    f"{sorted(_SCRAPY_REDIS_QUEUES)}; use SCHEDULER_QUEUE_ORDER instead"
                )
        if order not in QUEUE_ORDERS:
            raise ConfigError(
                f"{where('SCHEDULER_QUEUE_ORDER')}={order!r} must be one of {QUEUE_ORDERS}"
            )
        bits = int(number("FINGERPRINT_BUCKET_BITS", 0))
        if bits > 24 or bits % 4:
            raise ConfigError(f"{where('FINGERPRINT_BUCKET_BITS')}={bits} must be a multiple "
                              "of 4 from 0 to 24")
        store = str(get("FINGERPRINT_STORE")).lower()
        if store not in ("exact", "bloom"):
            raise ConfigError(f"{where('FINGERPRINT_STORE')}={store!r} must be 'exact' or "
                              "'bloom'")
        recrawl = int(number("RECRAWL_AFTER_DAYS", 0))
        if recrawl and store == "bloom":
            raise ConfigError("setting RECRAWL_AFTER_DAYS needs FINGERPRINT_STORE='exact': a "
                              "Bloom filter cannot tell when it saw a URL")
        check_encoding(settings, where)
        params = redis_params(settings, where)
        dsn = settings.get("POSTGRES_DSN")
        if dsn not in (None, ""):
            _check_dsn(str(dsn), where("POSTGRES_DSN"))
        table = tuple(str(get("POSTGRES_TABLE")).split("."))
        if len(table) > 2 or not all(table):
            raise ConfigError(f"{where('POSTGRES_TABLE')}={'.'.join(table)!r} must be TABLE "
                              "or SCHEMA.TABLE")

        def timeout(name: str, param: str) -> float:
            return number(name, 0.1, param if param in params and not given(name) else None)

        return cls(
            redis_url=redis_url(settings, params, where),
            key_prefix=str(get("REDIS_KEY_PREFIX")),
            start_urls_key=settings.get("REDIS_START_URLS_KEY"),
            start_urls_as_set=settings.getbool("REDIS_START_URLS_AS_SET"),
            embedded_dir=str(get("REDIS_EMBEDDED_DIR")),
            connect_timeout=timeout("REDIS_CONNECT_TIMEOUT", "socket_connect_timeout"),
            socket_timeout=timeout("REDIS_SOCKET_TIMEOUT", "socket_timeout"),
            ssl_ca_certs=optional_path("REDIS_SSL_CA_CERTS", params.get("ssl_ca_certs")),
            ssl_certfile=optional_path("REDIS_SSL_CERTFILE", params.get("ssl_certfile")),
            ssl_keyfile=optional_path("REDIS_SSL_KEYFILE", params.get("ssl_keyfile")),
            persist=settings.getbool("SCHEDULER_PERSIST", DEFAULTS["SCHEDULER_PERSIST"]),
            flush_on_start=settings.getbool("SCHEDULER_FLUSH_ON_START"),
            queue_order=order,
            prefetch=int(number("SCHEDULER_PREFETCH", 1)),
            batch_size=int(number("SCHEDULER_BATCH_SIZE", 1)),
            lease_seconds=number("SCHEDULER_LEASE_SECONDS", 1),
            heartbeat_seconds=number("SCHEDULER_HEARTBEAT_SECONDS", 0.1),
            node_timeout=number("SCHEDULER_NODE_TIMEOUT", 1),
            node_id=_node_id(settings.get("SCHEDULER_NODE_ID"), where("SCHEDULER_NODE_ID")),
            flush_delay=number("SCHEDULER_FLUSH_DELAY", 0),
            max_attempts=int(number("SCHEDULER_MAX_ATTEMPTS", 1)),
            idle_timeout=number("MAX_IDLE_TIME_BEFORE_CLOSE", 0),
            fingerprint_store=store,
            bucket_bits=bits,
            bloom_capacity=int(number("BLOOM_CAPACITY", 1000)),
            bloom_bits_per_url=int(number("BLOOM_BITS_PER_URL", 4)),
            recrawl_days=recrawl,
            politeness=from_values(get("DOMAIN_CONCURRENCY"), get("DOMAIN_RATE"),
                                   get("DOMAIN_LIMITS"), settings.getbool("ROBOTSTXT_OBEY"),
                                   number("ROBOTSTXT_MAX_DELAY", 0)),
            item_key_field=str(get("ITEM_KEY_FIELD")),
            postgres_dsn=str(dsn) if dsn not in (None, "") else None,
            postgres_table=table,
            postgres_batch_size=int(number("POSTGRES_BATCH_SIZE", 1)),
            postgres_buffer_items=int(number("POSTGRES_BUFFER_ITEMS", 1)),
            postgres_close_timeout=number("POSTGRES_CLOSE_TIMEOUT", 0),
        )

