"""Where a request fingerprint lives in Redis: compact, bucketed, exact.

Scrapy's fingerprinter gives 20 bytes of SHA1. We keep 12 of them (96 bits): the first
``bucket_bits / 8`` bytes choose a hash key (a bucket), the rest is a binary field in
it. Small hashes stay in Redis's listpack encoding, a few bytes per field, where a
40-character hex string in one big set costs ~90 bytes. With 96 bits the expected
number of colliding pairs among 10^10 URLs is n^2 / 2^97, about 6e-10.

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
        width = self.bucket_bits // 8
        bucket = fingerprint[:width].hex() if width else "all"
        return self.keys.seen_bucket(bucket), fingerprint[width:KEPT_BYTES]
