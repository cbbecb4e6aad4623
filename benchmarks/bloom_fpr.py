"""Measured false-positive rate of the Bloom fingerprint store (FINGERPRINT_STORE=bloom).

Inserts N distinct fingerprints into a filter sized for N, then asks it about N other
fingerprints and counts how many it takes for seen. The bit positions are those of
``crawler.fingerprints.BloomLayout.positions`` (which ``push.lua`` computes alike, as
tests/test_frontier.py checks), evaluated with numpy so that 10 million URLs take
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

from crawler.fingerprints import BloomLayout
from crawler.keys import CrawlKeys


def hashes(prefix: str, count: int) -> tuple[np.ndarray, np.ndarray]:
    """h1 and h2 of ``count`` SHA1 fingerprints, as BloomLayout.positions reads them."""
    raw = b"".join(hashlib.sha1(f"{prefix}{i}".encode()).digest()[:8] for i in range(count))
    words = np.frombuffer(raw, dtype=">u4").astype(np.uint64).reshape(count, 2)
    return words[:, 0], words[:, 1] | np.uint64(1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--urls", type=int, default=10_000_000)
    parser.add_argument("--bits", type=int, default=32, help="BLOOM_BITS_PER_URL")
    args = parser.parse_args()
    layout = BloomLayout(CrawlKeys("crawl", "fpr"), args.urls, args.bits)
    if layout.bitmaps != 1:
        print("more than one bitmap: run with fewer --urls", file=sys.stderr)
        return 2
    m, k = np.uint64(layout.bits_per_bitmap), layout.hashes
    sample = hashes("check", 1)
    expected = [int(p) for p in (sample[0][0] + np.arange(k, dtype=np.uint64) * sample[1][0]) % m]
    first = hashlib.sha1(b"check0").digest()
    assert expected == layout.positions(first), "numpy positions differ from BloomLayout"

    started = time.monotonic()
    bits = np.zeros(int(m), dtype=bool)
    for start in range(0, args.urls, 1_000_000):
        h1, h2 = hashes("seen", min(1_000_000, args.urls - start))
        for i in range(k):
            bits[(h1 + np.uint64(i) * h2) % m] = True
    false_positives = 0
    for start in range(0, args.urls, 1_000_000):
        h1, h2 = hashes(f"new{start}-", min(1_000_000, args.urls - start))
        hit = np.ones(len(h1), dtype=bool)
        for i in range(k):
            hit &= bits[(h1 + np.uint64(i) * h2) % m]
        false_positives += int(hit.sum())
    rate = false_positives / args.urls
    theory = (1 - math.exp(-k / args.bits)) ** k
    print(f"Command: {' '.join(sys.argv)}")
    print(f"{args.urls:,} URLs inserted into a filter sized for them, {args.bits} bits per URL "
          f"({args.bits / 8:.2f} bytes before allocator rounding), k = {k}")
    print(f"{false_positives} false positives among {args.urls:,} new URLs: measured rate "
          f"{rate:.2e} (theory {theory:.2e}); {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
