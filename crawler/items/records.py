"""The once-per-item-key records, as compact as the request fingerprints.

An item's key is 12 bytes of the SHA1 of its ``ITEM_KEY_FIELD`` (the page URL by default).
As with exact fingerprints (``crawler.frontier.fingerprints``), its first ``bucket_bits``
bits choose a small hash (a bucket, ``<item_keys>:<hex>``) and the bytes from there to the
12th are a binary field in it: up to 512 fields a bucket stay in Redis's listpack encoding.
The field's value is where the item is in the stream, packed in one integer (``pack_id``),
until a durable store has committed the item and it is trimmed from the stream: then it is
empty. The layout is recorded when a crawl stores its first item (``layout_key``), so a
later change of ``FINGERPRINT_BUCKET_BITS`` does not break a crawl under way.

Earlier versions kept one big hash, ``keys.item_keys``: the key in hex -> stream id. Its
records still count (an item recorded there is stored), read by the same scripts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import redis.asyncio

from crawler.redis.keys import CrawlKeys

KEPT_BYTES = 12
EPOCH_MS = 1735689600000  # 2025-01-01, as the fingerprints' day numbers
SEQ_BITS = 12  # a stream id ms-seq packs as (ms - EPOCH_MS) * 2^12 + seq when seq < 2^12
NAMES_CACHED = 2**16  # bucket names an ItemRecords keeps made


def digest(item: dict[str, Any], key_field: str) -> bytes:
    """The 12 bytes that make storing ``item`` idempotent (its key is their hex)."""
    value = item.get(key_field)
    basis = str(value) if value not in (None, "") else json.dumps(item, sort_keys=True, default=str)
    return hashlib.sha1(basis.encode()).digest()[:KEPT_BYTES]


def pack_id(stream_id: str) -> str:
    """A record's value for the item at ``stream_id``: one integer when it fits in 53
    bits (Lua's numbers), else the id itself. Mirrored by ``store_items.lua``."""
    ms, _, seq = stream_id.partition("-")
    offset, number = int(ms) - EPOCH_MS, int(seq or 0)
    if 0 <= offset < 2 ** (53 - SEQ_BITS) and number < 2 ** SEQ_BITS:
        return str((offset << SEQ_BITS) + number)
    return stream_id


def unpack_id(value: bytes | str) -> str:
    """The stream id a record's value names; ``""`` once the item was trimmed (empty).
    Mirrored by ``trim_items.lua``."""
    text = value.decode() if isinstance(value, bytes) else value
    if not text or "-" in text:
        return text
    packed = int(text)
    return f"{(packed >> SEQ_BITS) + EPOCH_MS}-{packed & (2 ** SEQ_BITS - 1)}"


@dataclass(frozen=True)
class ItemRecords:
    """Maps an item's digest to its bucket key and field."""

    keys: CrawlKeys
    bucket_bits: int
    _names: dict[bytes, str] = dataclasses.field(default_factory=dict, repr=False,
                                                 compare=False)  # head bytes -> bucket

    @property
    def field_offset(self) -> int:
        """Bytes of the digest the bucket name stands for: the field is the rest."""
        return self.bucket_bits // 8

    def bucket(self, key: bytes) -> str:
        """The bucket key that records the item with digest ``key``."""
        head = key[:(self.bucket_bits + 4) // 8]  # the bytes its name is made of
        name = self._names.get(head)
        if name is None:
            digits = self.bucket_bits // 4
            name = self.keys.item_records + (head.hex()[:digits] if digits else "all")
            if len(self._names) < NAMES_CACHED:
                self._names[head] = name
        return name

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
        return [unpack_id(new) if new is not None else (old.decode() if old else None)
                for new, old in zip(found[::2], found[1::2], strict=True)]


async def open_records(client: redis.asyncio.Redis, keys: CrawlKeys,
                       bucket_bits: int) -> ItemRecords:
    """The crawl's record layout: the one recorded, else ``bucket_bits``, recorded now."""
    pipe = client.pipeline(transaction=False)
    pipe.set(keys.item_records + LAYOUT, json.dumps({"bucket_bits": bucket_bits}), nx=True)
    pipe.get(keys.item_records + LAYOUT)
    _, recorded = await pipe.execute()
    return ItemRecords(keys, int(json.loads(recorded)["bucket_bits"]))


LAYOUT = "layout"  # <item_records>layout: the JSON layout; never a bucket (not hex)
