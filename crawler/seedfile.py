"""Reading seed files for ``scrapy seed`` and ``scrapy forget``: lines, numbers, errors,
and the fingerprints of the requests the seeds stand for."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from scrapy.crawler import Crawler
from scrapy.exceptions import UsageError
from scrapy.settings import Settings
from scrapy.spiderloader import get_spider_loader
from scrapy.utils.misc import build_from_crawler, load_object

from crawler import seeds

Seed = tuple[str, dict[str, Any]]  # the line as stored in Redis, and its parsed form


def read(source: str) -> tuple[list[Seed], int]:
    """The good seeds of FILE (or ``-``: standard input), and how many lines were bad.

    Each bad line is reported on standard error as ``FILE:LINE: what is wrong``.
    """
    if source == "-":
        return _read(sys.stdin, "<stdin>")
    try:
        with open(source, encoding="utf-8") as handle:
            return _read(handle, source)
    except OSError as exc:
        raise UsageError(f"cannot read {source}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{source} is not UTF-8 text: {exc}") from None


def _read(handle: TextIO, where: str) -> tuple[list[Seed], int]:
    good: list[Seed] = []
    bad = 0
    for number, line in enumerate(handle, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            seed = seeds.parse(line)
        except seeds.SeedError as exc:
            print(f"{where}:{number}: {exc}", file=sys.stderr)
            bad += 1
            continue
        good.append((line.strip() if len(seed) == 1 else stored(seed), seed))
    return good, bad


def stored(seed: dict[str, Any]) -> str:
    """The seed as a line in the start-URL list."""
    if set(seed) == {"url"}:
        return str(seed["url"])
    return json.dumps(seed, ensure_ascii=False)


def fingerprints(settings: Settings, crawl: str, good: list[Seed]) -> list[bytes]:
    """The fingerprints of the seeds' requests, by the crawl's ``REQUEST_FINGERPRINTER``."""
    crawler = Crawler(get_spider_loader(settings).load(crawl), settings)
    fingerprinter = build_from_crawler(load_object(settings["REQUEST_FINGERPRINTER_CLASS"]),
                                       crawler)
    return [fingerprinter.fingerprint(seeds.to_request(seed)) for _, seed in good]
