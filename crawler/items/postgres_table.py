"""The PostgreSQL item table: its schema, the batched upsert, and the backfill from the
Redis item store. ``crawler.pipelines.postgres`` writes to it during a crawl; ``scrapy export
NAME --postgres`` runs ``backfill``. Passwords never leave this module in a message:
``describe`` and ``scrub`` give addresses and errors without them.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import redis

from crawler.items import stream
from crawler.items.config import PostgresConfig
from crawler.redis.keys import CrawlKeys

if TYPE_CHECKING:  # psycopg is imported where used: a node without PostgreSQL never loads it
    import psycopg

logger = logging.getLogger(__name__)

FETCHED_FIELD = "fetched_at"  # an item's ISO 8601 fetch time, if it has one
MAX_BACKOFF = 10.0
WRITE_TIMEOUT = 60.0
WARN_EVERY = 30.0
BAD_DATA = ("22", "23", "54")  # SQLSTATE classes of data refused: bad value, constraint, size

Row = tuple[str | None, datetime, str]  # url, fetched_at, item as JSON

CREATE = """CREATE TABLE IF NOT EXISTS {table} (
    crawl text NOT NULL,
    item_key text NOT NULL,
    url text,
    fetched_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    item jsonb NOT NULL,
    PRIMARY KEY (crawl, item_key))"""
# One statement a batch; the WHERE keeps a newer row from being replaced by an older copy.
UPSERT = """INSERT INTO {table} AS t (crawl, item_key, url, fetched_at, item)
SELECT %s, k, u, f, i::jsonb
FROM unnest(%s::text[], %s::text[], %s::timestamptz[], %s::text[]) AS s(k, u, f, i)
ON CONFLICT (crawl, item_key) DO UPDATE SET url = excluded.url,
    fetched_at = excluded.fetched_at, item = excluded.item, updated_at = now()
WHERE t.fetched_at <= excluded.fetched_at"""


def describe(dsn: str) -> str:
    """Where ``dsn`` points, as ``postgresql://user@host:port/db``: never the password."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict
    try:
        p = conninfo_to_dict(dsn)
    except psycopg.Error:
        return "postgresql://(unparsable POSTGRES_DSN)"
    return (f"postgresql://{p.get('user') or ''}{'@' if p.get('user') else ''}"
            f"{p.get('host') or 'localhost'}:{p.get('port') or 5432}/{p.get('dbname') or ''}")


def scrub(exc: BaseException, dsn: str) -> str:
    """The error's message on one line, with the DSN's password (if any) hidden."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict
    text = " ".join(str(exc).split()) or type(exc).__name__
    with contextlib.suppress(psycopg.Error):
        password = conninfo_to_dict(dsn).get("password")
        if password:
            text = text.replace(str(password), "***")
    return text


def connect_options(dsn: str) -> dict[str, Any]:
    """autocommit (one statement a batch), and a connect timeout unless the DSN sets one."""
    from psycopg.conninfo import conninfo_to_dict
    given = conninfo_to_dict(dsn)
    options: dict[str, Any] = {"autocommit": True}
    if "connect_timeout" not in given:
        options["connect_timeout"] = 5
    if "application_name" not in given:
        options["application_name"] = "scrapy-crawler"
    return options


def _no_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_no_nul(k): _no_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_no_nul(v) for v in value]
    return value


def to_row(item: dict[str, Any]) -> Row:
    """The table row of ``item`` (PostgreSQL refuses NUL characters: they are left out)."""
    data = json.dumps(item, default=str)  # ASCII: a lone surrogate is refused as data, later
    if "\\u0000" in data:
        data = json.dumps(_no_nul(item), default=str)
    url = item.get("url")
    when = item.get(FETCHED_FIELD)
    if isinstance(when, str):
        try:
            when = datetime.fromisoformat(when)
        except ValueError:
            when = None
    if not isinstance(when, datetime):
        when = datetime.now(UTC)
    elif when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (_no_nul(str(url)) if url is not None else None), when, data


class ItemTable:
    """The item table: its name and its two statements."""

    def __init__(self, name: tuple[str, ...]) -> None:
        from psycopg import sql
        self.name = ".".join(name)
        ident = sql.Identifier(*name)
        self.create_sql = sql.SQL(CREATE).format(table=ident)
        self.upsert_sql = sql.SQL(UPSERT).format(table=ident)

    async def create(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Create the table if missing (nodes starting together take turns)."""
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [self.name])
            await conn.execute(self.create_sql)

    async def upsert(self, conn: psycopg.AsyncConnection[Any], crawl: str,
                     rows: Iterable[tuple[str, Row]]) -> None:
        """Insert or update ``(item key, row)`` pairs, each key once, in one statement."""
        keys, urls, fetched, data = [], [], [], []
        for key, (url, when, item) in rows:
            keys.append(key)
            urls.append(url)
            fetched.append(when)
            data.append(item)
        await conn.execute(self.upsert_sql, [crawl, keys, urls, fetched, data])


def bad_data(exc: BaseException) -> bool:
    """Whether the rows were refused for what they hold (then each is tried alone), rather
    than the database being unusable for now (then the batch waits and is retried)."""
    import psycopg
    if isinstance(exc, psycopg.Error):
        if exc.sqlstate:
            return exc.sqlstate[:2] in BAD_DATA
        return isinstance(exc, psycopg.DataError | psycopg.ProgrammingError)
    return isinstance(exc, ValueError | TypeError)  # psycopg could not adapt a value


async def backfill(config: PostgresConfig, key_field: str, keys: CrawlKeys, client: redis.Redis,
                   since: str, progress: Callable[[int, str], None], trim: bool) -> None:
    """Upsert the Redis item store's items after cursor ``since`` into the table, in
    batches, keyed by ``key_field`` (``ITEM_KEY_FIELD``); ``progress(items so far,
    cursor)`` after each batch is committed, and with ``trim`` the batch then leaves the
    Redis stream. (Run by
    ``scrapy export``, alone on its loop: the blocking Redis reads block nobody.)"""
    assert config.dsn is not None
    import psycopg
    table = ItemTable(config.table)
    conn = await psycopg.AsyncConnection.connect(config.dsn, **connect_options(config.dsn))
    async with conn:
        await table.create(conn)
        done = 0
        stored = stream.read_items(client, keys, since)
        while chunk := list(itertools.islice(stored, config.batch_size)):
            rows = {stream.item_key(item, key_field): to_row(item)
                    for _, item in chunk}
            await table.upsert(conn, keys.crawl, rows.items())
            if trim:
                stream.trim_ids(client, keys, [stream_id for stream_id, _ in chunk])
            done += len(chunk)
            progress(done, chunk[-1][0])
