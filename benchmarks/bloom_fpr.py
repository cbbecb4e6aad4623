"""Measured false-positive rate of the Bloom fingerprint store (FINGERPRINT_STORE=bloom).

Inserts N distinct fingerprints into a filter sized for N, then asks it about N other
fingerprints and counts how many it takes for seen. The bit positions are those of
``crawler.frontier.fingerprints.BloomLayout.positions`` (which ``push.lua`` computes alike, as
tests/contract/test_frontier.py checks), evaluated with numpy so that 10 million URLs take
seconds; memory per URL in Redis is measured by ``fingerprint_memory.py``.

    python benchmarks/bloom_fpr.py [--urls 10000000] [--bits 32]

Needs numpy (not a dependency of the crawler: ``pip install numpy``).
"""

from __future__ import annotations

import argparse
import hashlib
import math
import sys
import time

import numpy as np

from crawler.frontier.fingerprints import BloomLayout
from crawler.redis.keys import CrawlKeys


def hashes(prefix: str, count: int, bitmaps: int) -> tuple[np.ndarray, ...]:
    """h1, h2 and the bitmap of ``count`` SHA1 fingerprints, as BloomLayout reads them."""
    raw = b"".join(hashlib.sha1(f"{prefix}{i}".encode()).digest()[:12] for i in range(count))
    words = np.frombuffer(raw, dtype=">u4").astype(np.uint64).reshape(count, 3)
    return words[:, 0], words[:, 1] | np.uint64(1), words[:, 2] % np.uint64(bitmaps)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--urls", type=int, default=10_000_000)
    parser.add_argument("--bits", type=int, default=32, help="BLOOM_BITS_PER_URL")
    args = parser.parse_args()
    layout = BloomLayout(CrawlKeys("crawl", "fpr"), args.urls, args.bits)
    m, k, b = np.uint64(layout.bits_per_bitmap), layout.hashes, layout.bitmaps
    h1, h2, bitmap = hashes("check", 1, b)
    first = hashlib.sha1(b"check0").digest()
    assert [int(p) for p in (h1[0] + np.arange(k, dtype=np.uint64) * h2[0]) % m] == \
        layout.positions(first), "numpy positions differ from BloomLayout's"
    assert layout.locate(first)[0] == layout.bitmap_keys()[int(bitmap[0])]

    started = time.monotonic()
    bits = np.zeros(int(m) * b, dtype=bool)
    for start in range(0, args.urls, 1_000_000):
        h1, h2, bitmap = hashes("seen", min(1_000_000, args.urls - start), b)
        for i in range(k):
            bits[bitmap * m + (h1 + np.uint64(i) * h2) % m] = True
    false_positives = 0
    for start in range(0, args.urls, 1_000_000):
        h1, h2, bitmap = hashes(f"new{start}-", min(1_000_000, args.urls - start), b)
        hit = np.ones(len(h1), dtype=bool)
        for i in range(k):
            hit &= bits[bitmap * m + (h1 + np.uint64(i) * h2) % m]
        false_positives += int(hit.sum())
    rate = false_positives / args.urls
    theory = (1 - math.exp(-k / args.bits)) ** k
    print(f"Command: {' '.join(sys.argv)}")
    allotted = layout.bitmaps * layout.bits_per_bitmap / args.urls
    print(f"{args.urls:,} URLs inserted into a filter sized for them: {layout.bitmaps} "
          f"bitmaps, {allotted:.2f} bits ({allotted / 8:.3f} bytes) per URL, k = {k}")
    print(f"{false_positives} false positives among {args.urls:,} new URLs: measured rate "
          f"{rate:.2e} (theory {theory:.2e}); {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
