"""The crawl's shared item store in Redis: a stream, written once per item key.

Writers batch: the items that arrive within ``gather`` seconds, or while one write is
on its way, go together in the next one (one round trip). An item's key is the SHA1 of
its ``ITEM_KEY_FIELD`` (the page URL by default), recorded compactly
(``crawler.items.records``), so a page fetched again after a crash does not store its
item twice. ``trim`` deletes from the stream what a durable store has committed (the
records stay); ``trimmed_after`` tells a reader whether items it asks for are gone.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Collection, Iterator
from typing import Any

import redis
import redis.asyncio

from crawler.frontier import scripts
from crawler.items.records import ItemRecords, digest
from crawler.redis.keys import CrawlKeys

logger = logging.getLogger(__name__)

READ_CHUNK = 1000
TRIM_CHUNK = 1000
MAX_BACKOFF = 10.0
START = "0"  # the cursor before every item: the stream's ids are all greater than 0-0
_STREAM_ID = re.compile(r"\d+(-\d+)?")
_MAX_SEQUENCE = 2**64 - 1


def item_key(item: dict[str, Any], key_field: str) -> str:
    """The key that makes storing ``item`` idempotent (in hex: PostgreSQL's ``item_key``)."""
    return digest(item, key_field).hex()


class ItemStore:
    """Writes items to the stream in batches; ``add`` returns once the item is stored."""

    def __init__(self, client: redis.asyncio.Redis, records: ItemRecords, key_field: str,
                 gather: float = 0.0) -> None:
        self.client = client
        self.records = records
        self.keys = records.keys
        self.key_field = key_field
        self.gather = gather
        self._pending: list[tuple[bytes, bytes, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def add(self, item: dict[str, Any]) -> None:
        """Store ``item`` (with the others that arrive meanwhile); retries while Redis is down."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # A lone surrogate (text decoded with errors="surrogateescape") is not UTF-8: Redis
        # could not be sent the batch, whose items would wait for ever. It becomes "?".
        data = json.dumps(item, ensure_ascii=False, default=str).encode("utf-8", "replace")
        self._pending.append((digest(item, self.key_field), data, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write())
        await done

    async def _write(self) -> None:
        backoff = 0.0
        while self._pending:
            await asyncio.sleep(backoff or self.gather)
            batch = list(self._pending)
            keys = [key for key, _, _ in batch]
            args: list[Any] = self.records.layout_args()
            args += [part for key, data, _ in batch for part in (self.records.field(key), data)]
            try:
                await scripts.STORE_ITEMS.run(
                    self.client, [self.keys.items, self.keys.item_keys, self.keys.stats,
                                  *self.records.script_keys(keys)], args)
            except (redis.RedisError, OSError) as exc:
                # Unreachable, or refusing (out of memory, a missing permission): the items
                # wait here, their pages stay unacknowledged, and nothing is dropped.
                backoff = min(MAX_BACKOFF, max(0.25, backoff * 2))
                logger.warning("Item store: Redis did not take the items (%s); %d items wait, "
                               "retry in %.1f s", exc, len(self._pending), backoff)
                continue
            backoff = 0.0
            del self._pending[:len(batch)]
            for _, _, done in batch:
                done.set_result(None)


def read_items(
    client: redis.Redis, keys: CrawlKeys, after: str = "-"
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every stored item after stream id ``after``, oldest first, in chunks (constant memory)."""
    start = after if after == "-" else f"({after}"
    while True:
        chunk: list[tuple[bytes, dict[bytes, bytes]]] = client.xrange(  # type: ignore[assignment]
            keys.items, min=start, max="+", count=READ_CHUNK)
        if not chunk:
            return
        for stream_id, fields in chunk:
            yield stream_id.decode(), json.loads(fields[b"item"])
        start = f"({chunk[-1][0].decode()}"


def check_cursor(cursor: str) -> str:
    """``cursor`` if it is a stream id (``1732370000000-5``; ``0``: before every item), else
    ``ValueError``. The items after it are the ones stored after the item it names."""
    if not _STREAM_ID.fullmatch(cursor):
        raise ValueError(f"{cursor!r} is not a cursor: a stream id such as 1732370000000-5, "
                         f"or {START} for the start")
    return cursor


def _id_tuple(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


def cursor_before(stream_id: str) -> str:
    """The cursor whose next item is the one at ``stream_id`` (ids are ``ms-seq``)."""
    ms, seq = _id_tuple(stream_id)
    if seq > 0:
        return f"{ms}-{seq - 1}"
    return f"{ms - 1}-{_MAX_SEQUENCE}" if ms > 0 else START


async def locate(client: redis.asyncio.Redis, records: ItemRecords,
                 digests: Collection[bytes]) -> tuple[str | None, int]:
    """Where items are in the stream: the cursor to read all of them from (``None`` if
    none is kept there) and how many of them the store does not hold."""
    found: list[tuple[int, int]] = []
    wanted = list(digests)
    missing = 0
    for start in range(0, len(wanted), READ_CHUNK):
        ids = await records.stream_ids(client, wanted[start:start + READ_CHUNK])
        missing += ids.count(None)
        found.extend(_id_tuple(i) for i in ids if i)
    if not found:
        return None, missing
    oldest = "{}-{}".format(*min(found))
    first: list[tuple[bytes, Any]] = await client.xrange(  # type: ignore[assignment]
        records.keys.items, count=1)
    at_start = bool(first) and first[0][0].decode() == oldest
    return (START if at_start else cursor_before(oldest)), missing


async def trim(client: redis.asyncio.Redis, records: ItemRecords,
               digests: Collection[bytes]) -> int:
    """Delete from the stream the items of these keys, which a durable store has
    committed (their records stay: each is still stored once); return how many went."""
    wanted = list(digests)
    deleted = 0
    for start in range(0, len(wanted), TRIM_CHUNK):
        chunk = wanted[start:start + TRIM_CHUNK]
        deleted += int(await scripts.TRIM_ITEMS.run(
            client, [records.keys.items, records.keys.item_keys, records.keys.stats,
                     *records.script_keys(chunk)],
            [*records.layout_args(), *(records.field(key) for key in chunk)]))
    return deleted


async def trim_committed(client: redis.asyncio.Redis, records: ItemRecords,
                         digests: list[bytes], where: str) -> None:
    """``trim`` what ``where`` committed; if Redis fails, say so (the items stay: extra
    items, never lost ones)."""
    try:
        await trim(client, records, digests)
    except (redis.RedisError, OSError) as exc:
        logger.warning("Redis did not trim %d items %s committed (%s); they stay in the item "
                       "store %s", len(digests), where, exc, records.keys.items)


def trim_ids(client: redis.Redis, keys: CrawlKeys, stream_ids: list[str]) -> int:
    """Delete these entries from the stream (an export wrote them); return how many went."""
    return sum(int(client.xdel(keys.items, *stream_ids[start:start + TRIM_CHUNK]))
               for start in range(0, len(stream_ids), TRIM_CHUNK))


def trim_range(client: redis.Redis, keys: CrawlKeys, after: str, upto: str) -> int:
    """Delete the entries after cursor ``after`` up to stream id ``upto`` (an export wrote
    them: no entry can join that range, ids only grow); return how many went."""
    deleted = 0
    start = after if after == "-" else f"({after}"
    while True:
        chunk: list[tuple[bytes, Any]] = client.xrange(  # type: ignore[assignment]
            keys.items, min=start, max=upto, count=TRIM_CHUNK)
        if not chunk:
            return deleted
        ids = [stream_id.decode() for stream_id, _ in chunk]
        deleted += trim_ids(client, keys, ids)
        start = f"({ids[-1]}"


def trimmed_after(client: redis.Redis, keys: CrawlKeys, cursor: str) -> tuple[int, str] | None:
    """``(items trimmed in all, the latest trimmed)`` if any item stored after ``cursor``
    was trimmed from the stream, else ``None`` (Redis 7's ``XINFO STREAM`` counters)."""
    try:
        info: dict[str, Any] = client.xinfo_stream(keys.items)
    except redis.ResponseError:  # no stream: nothing stored, nothing trimmed
        return None
    latest = info.get("max-deleted-entry-id")
    added = info.get("entries-added")
    if latest is None or added is None:
        return None
    latest = latest.decode() if isinstance(latest, bytes) else str(latest)
    if _id_tuple(latest) <= _id_tuple(cursor):
        return None
    return int(added) - int(info["length"]), latest
