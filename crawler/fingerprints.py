"""Where a request fingerprint lives in Redis: compact, bucketed, exact.

Scrapy's fingerprinter gives 20 bytes of SHA1. We keep 12 of them (96 bits): the first
``bucket_bits`` bits choose a hash key (a bucket), the bytes from there to the 12th are
a binary field in it. Hashes of up to 512 fields (Redis's default
``hash-max-listpack-entries``) stay in the compact listpack encoding, ~15 bytes a field,
where a 40-character hex string in one big set costs ~90 bytes. So 2^bits buckets hold
up to 512 * 2^bits fingerprints compactly: 16 bits (the default) ~33 million, 20 bits
~530 million. With 96 bits the expected number of colliding pairs among 10^10 URLs is
n^2 / 2^97, about 6e-10.

The layout is chosen when a crawl begins and stored with it, so a later change of
``FINGERPRINT_BUCKET_BITS`` does not break de-duplication of a crawl under way.
"""

from __future__ import annotations

from dataclasses import dataclass

from crawler.keys import CrawlKeys

KEPT_BYTES = 12


@dataclass(frozen=True)
class FingerprintLayout:
    """Maps a fingerprint to its bucket key and field."""

    keys: CrawlKeys
    bucket_bits: int

    def locate(self, fingerprint: bytes) -> tuple[str, bytes]:
        """The bucket key and the field that record ``fingerprint``."""
        digits = self.bucket_bits // 4
        bucket = fingerprint[:(digits + 1) // 2].hex()[:digits] if digits else "all"
        return self.keys.seen_bucket(bucket), fingerprint[self.bucket_bits // 8:KEPT_BYTES]
