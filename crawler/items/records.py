"""The once-per-item-key records, as compact as the request fingerprints.

An item's key is 12 bytes of the SHA1 of its ``ITEM_KEY_FIELD`` (the page URL by default).
As with exact fingerprints (``crawler.frontier.fingerprints``), its first ``bucket_bits``
bits choose a small hash (a bucket, ``<item_keys>:<hex>``) and the bytes from there to the
12th are a binary field in it: up to 512 fields a bucket stay in Redis's listpack encoding.
The field's value is the item's stream id until a durable store has committed the item
and it is trimmed from the stream: then it is empty. (Packed in one integer, the id would
save 7 bytes a record and cost Redis ~2 us an item in Lua, measured.) The layout is
recorded when a crawl stores its first item (``<item_records>layout``), so a later change
of ``FINGERPRINT_BUCKET_BITS`` does not break a crawl under way.

Earlier versions kept one big hash, ``keys.item_keys``: the key in hex -> stream id. Its
records still count (an item recorded there is stored), read by the same scripts.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import redis.asyncio

from crawler.frontier.fingerprints import KEPT_BYTES, bucket_name
from crawler.redis.keys import CrawlKeys

LAYOUT = "layout"  # <item_records>layout: the JSON layout; never a bucket (not hex)


def digest(item: dict[str, Any], key_field: str) -> bytes:
    """The 12 bytes that make storing ``item`` idempotent (its key is their hex)."""
    value = item.get(key_field)
    basis = str(value) if value not in (None, "") else json.dumps(item, sort_keys=True, default=str)
    return hashlib.sha1(basis.encode()).digest()[:KEPT_BYTES]


@dataclass(frozen=True)
class ItemRecords:
    """Maps an item's digest to its bucket key and field."""

    keys: CrawlKeys
    bucket_bits: int

    @property
    def field_offset(self) -> int:
        """Bytes of the digest the bucket name stands for: the field is the rest."""
        return self.bucket_bits // 8

    def bucket(self, key: bytes) -> str:
        """The bucket key that records the item with digest ``key``."""
        return self.keys.item_records + bucket_name(key, self.bucket_bits)

    def field(self, key: bytes) -> bytes:
        """The field that records ``key`` in its bucket."""
        return key[self.field_offset:]

    def script_keys(self, digests: list[bytes]) -> list[str]:
        """``KEYS[4..]`` of ``store_items.lua`` and ``trim_items.lua``: each item's bucket."""
        return [self.bucket(d) for d in digests]

    def layout_args(self) -> list[int]:
        """``ARGV[1..2]`` of the item scripts: hex digits of a bucket's name, and how many
        of them are whole bytes of the digest (the field starts after them)."""
        return [self.bucket_bits // 4, self.field_offset * 2]

    async def stream_ids(self, client: redis.asyncio.Redis,
                         digests: list[bytes]) -> list[str | None]:
        """Where each item is in the stream (``None``: not recorded; ``""``: trimmed), read
        from its record, or from the earlier versions' hash."""
        pipe = client.pipeline(transaction=False)
        for key in digests:
            pipe.hget(self.bucket(key), self.field(key))
            pipe.hget(self.keys.item_keys, key.hex())
        found = await pipe.execute()
        values = [new if new is not None else old
                  for new, old in zip(found[::2], found[1::2], strict=True)]
        return [value.decode() if value is not None else None for value in values]


async def open_records(client: redis.asyncio.Redis, keys: CrawlKeys,
                       bucket_bits: int) -> ItemRecords:
    """The crawl's record layout: the one recorded, else ``bucket_bits``, recorded now."""
    pipe = client.pipeline(transaction=False)
    pipe.set(keys.item_records + LAYOUT, json.dumps({"bucket_bits": bucket_bits}), nx=True)
    pipe.get(keys.item_records + LAYOUT)
    _, recorded = await pipe.execute()
    return ItemRecords(keys, int(json.loads(recorded)["bucket_bits"]))
