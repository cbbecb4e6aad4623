"""The crawl's shared item store in Redis: a stream, written once per item key.

Writers batch: the items that arrive while one write is on its way go together in the
next one (one round trip). An item's key is the SHA1 of its ``ITEM_KEY_FIELD`` (the page
URL by default), so a page fetched again after a crash does not store its item twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Iterator
from typing import Any

import redis
import redis.asyncio

from crawler import scripts
from crawler.keys import CrawlKeys

logger = logging.getLogger(__name__)

READ_CHUNK = 1000
MAX_BACKOFF = 10.0


def item_key(item: dict[str, Any], key_field: str) -> str:
    """The key that makes storing ``item`` idempotent."""
    value = item.get(key_field)
    basis = str(value) if value not in (None, "") else json.dumps(item, sort_keys=True, default=str)
    return hashlib.sha1(basis.encode()).hexdigest()[:24]


class ItemStore:
    """Writes items to the stream in batches; ``add`` returns once the item is stored."""

    def __init__(self, client: redis.asyncio.Redis, keys: CrawlKeys, key_field: str) -> None:
        self.client = client
        self.keys = keys
        self.key_field = key_field
        self._pending: list[tuple[str, str, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def add(self, item: dict[str, Any]) -> None:
        """Store ``item`` (with the others that arrive meanwhile); retries while Redis is down."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        data = json.dumps(item, ensure_ascii=False, default=str)
        self._pending.append((item_key(item, self.key_field), data, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write())
        await done

    async def _write(self) -> None:
        backoff = 0.0
        while self._pending:
            await asyncio.sleep(backoff)
            batch = list(self._pending)
            args = [part for key, data, _ in batch for part in (key, data)]
            try:
                await scripts.STORE_ITEMS.run(
                    self.client, [self.keys.items, self.keys.item_keys, self.keys.stats], args)
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                backoff = min(MAX_BACKOFF, max(0.25, backoff * 2))
                logger.warning("Item store: Redis unreachable (%s); %d items wait, retry in "
                               "%.1f s", exc, len(self._pending), backoff)
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
