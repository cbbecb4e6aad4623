"""The item settings: what makes an item once-only, and the PostgreSQL item table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scrapy.settings import BaseSettings

from crawler.errors import ConfigError
from crawler.node.config import DEFAULTS as NODE_DEFAULTS
from crawler.node.config import QUIET_FLUSHES
from crawler.setting_values import SettingValues

DEFAULTS: dict[str, Any] = {
    "ITEM_KEY_FIELD": "url",
    "ITEMS_TRIM_COMMITTED": True,
    "POSTGRES_DSN": None,
    "POSTGRES_TABLE": "crawl_items",
    "POSTGRES_BATCH_SIZE": 500,
    "POSTGRES_BUFFER_ITEMS": 10000,
    "POSTGRES_CLOSE_TIMEOUT": 10.0,
}
FLUSH_DELAY = "SCHEDULER_FLUSH_DELAY"  # the node's setting the item store's gathering follows
BUCKET_BITS = "FINGERPRINT_BUCKET_BITS"  # the item records are bucketed as the fingerprints


@dataclass(frozen=True)
class ItemsConfig:
    """How the Redis item store keys and gathers items."""

    key_field: str  # the item store keeps one item per value of this field
    gather_seconds: float  # how long a write waits for more items
    bucket_bits: int  # the item records' buckets when a crawl stores its first item
    trim_committed: bool  # a durable store's committed items leave the stream

    @classmethod
    def from_settings(cls, settings: BaseSettings,
                      environ: Mapping[str, str] | None = None) -> ItemsConfig:
        """Build it from Scrapy settings and the environment; ``ConfigError`` if bad."""
        values = SettingValues(settings, {**DEFAULTS, FLUSH_DELAY: NODE_DEFAULTS[FLUSH_DELAY],
                                          BUCKET_BITS: NODE_DEFAULTS[BUCKET_BITS]}, environ)
        bits = int(values.number(BUCKET_BITS, 0))
        if bits > 24 or bits % 4:
            raise ConfigError(f"{values.where(BUCKET_BITS)}={bits} must be a multiple of 4 "
                              "from 0 to 24")
        return cls(key_field=str(values.get("ITEM_KEY_FIELD")),
                   gather_seconds=QUIET_FLUSHES * values.number(FLUSH_DELAY, 0),
                   bucket_bits=bits, trim_committed=values.flag("ITEMS_TRIM_COMMITTED"))


def _check_dsn(dsn: str, where: str) -> None:
    from psycopg import Error
    from psycopg.conninfo import conninfo_to_dict

    try:
        conninfo_to_dict(dsn)
    except Error:  # its message may quote the password
        raise ConfigError(f"{where} is not a PostgreSQL connection string: expected "
                          "postgresql://USER:PASSWORD@HOST:PORT/DB or key=value pairs") from None


@dataclass(frozen=True)
class PostgresConfig:
    """The PostgreSQL item table (``crawler.pipelines.postgres``, ``scrapy export --postgres``)."""

    dsn: str | None = field(repr=False)  # may hold a password; None: no PostgreSQL
    table: tuple[str, ...]
    batch_size: int
    buffer_items: int
    close_timeout: float

    @classmethod
    def from_settings(cls, settings: BaseSettings,
                      environ: Mapping[str, str] | None = None) -> PostgresConfig:
        """Build it from Scrapy settings and the environment; ``ConfigError`` if bad."""
        values = SettingValues(settings, DEFAULTS, environ)
        dsn = values.raw("POSTGRES_DSN")
        if dsn not in (None, ""):
            _check_dsn(str(dsn), values.where("POSTGRES_DSN"))
        table = tuple(str(values.get("POSTGRES_TABLE")).split("."))
        if len(table) > 2 or not all(table):
            raise ConfigError(f"{values.where('POSTGRES_TABLE')}={'.'.join(table)!r} must be "
                              "TABLE or SCHEMA.TABLE")
        return cls(
            dsn=str(dsn) if dsn not in (None, "") else None,
            table=table,
            batch_size=int(values.number("POSTGRES_BATCH_SIZE", 1)),
            buffer_items=int(values.number("POSTGRES_BUFFER_ITEMS", 1)),
            close_timeout=values.number("POSTGRES_CLOSE_TIMEOUT", 0),
        )
