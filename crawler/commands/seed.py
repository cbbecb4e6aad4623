"""``scrapy seed NAME [FILE|-]``: add start URLs to a crawl."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import Any, TextIO

from scrapy.crawler import Crawler
from scrapy.exceptions import UsageError
from scrapy.spiderloader import get_spider_loader
from scrapy.utils.misc import build_from_crawler, load_object

from crawler import seeds
from crawler.cli import CrawlCommand
from crawler.fingerprints import FingerprintLayout, layout_from_json

CHUNK = 1000


class Command(CrawlCommand):
    """Reads one seed a line (a URL, or scrapy-redis's JSON ``{"url", "meta", "priority"}``)."""

    def syntax(self) -> str:
        return "NAME [FILE|-]"

    def short_desc(self) -> str:
        return "Add start URLs (one a line, or JSON lines) to a crawl"

    def long_desc(self) -> str:
        return (
            "Reads FILE (or standard input with -), one seed a line: a URL, or a JSON object "
            '{"url": ..., "meta": {...}, "priority": n}. Blank lines and lines starting with # '
            "are skipped. Seeds the crawl already knows are not added again. A bad line is "
            "reported with its line number, the others are still seeded, and the command "
            "exits with status 1."
        )

    def execute(self, args: list[str], opts: argparse.Namespace) -> None:
        name = self.crawl_name(args)
        if len(args) > 2:
            raise UsageError("give one FILE (or - for standard input)")
        source = args[1] if len(args) == 2 else "-"
        if source == "-":
            good, bad = self._read(sys.stdin, "<stdin>")
        else:
            try:
                with open(source, encoding="utf-8") as handle:
                    good, bad = self._read(handle, source)
            except OSError as exc:
                raise UsageError(f"cannot read {source}: {exc.strerror}") from None
            except UnicodeDecodeError as exc:
                raise UsageError(f"{source} is not UTF-8 text: {exc}") from None
        config, keys, client = self.open(name)
        recorded = client.hget(keys.seen_meta, "layout") or config.fingerprint_layout()
        fresh, known = self._unknown(client, layout_from_json(keys, recorded), good)
        for start in range(0, len(fresh), CHUNK):
            lines = fresh[start:start + CHUNK]
            if config.start_urls_as_set:
                client.sadd(keys.start_urls, *lines)
            else:
                client.rpush(keys.start_urls, *lines)
        print(f"Seeded {len(fresh)} URLs into {keys.start_urls}; {known} already known"
              + (f"; {bad} bad lines" if bad else ""))
        if bad:
            self.exitcode = 1

    def _read(self, handle: TextIO, where: str) -> tuple[list[tuple[str, dict[str, Any]]], int]:
        good: list[tuple[str, dict[str, Any]]] = []
        bad = 0
        for number, line in _lines(handle):
            try:
                seed = seeds.parse(line)
            except seeds.SeedError as exc:
                print(f"{where}:{number}: {exc}", file=sys.stderr)
                bad += 1
                continue
            text = line.strip() if len(seed) == 1 else json.dumps(seed, ensure_ascii=False)
            good.append((text, seed))
        return good, bad

    def _unknown(self, client: Any, layout: FingerprintLayout,
                 good: list[tuple[str, dict[str, Any]]]) -> tuple[list[str], int]:
        """The seeds whose request the crawl has not seen, and how many it has."""
        assert self.settings is not None
        spider = get_spider_loader(self.settings).load(layout.keys.crawl)
        crawler = Crawler(spider, self.settings)
        fingerprinter = build_from_crawler(
            load_object(self.settings["REQUEST_FINGERPRINTER_CLASS"]), crawler)
        fresh: list[str] = []
        known = 0
        seen_here: set[bytes] = set()
        for start in range(0, len(good), CHUNK):
            chunk = good[start:start + CHUNK]
            prints = [fingerprinter.fingerprint(seeds.to_request(seed)) for _, seed in chunk]
            for (text, _), fp, exists in zip(chunk, prints, layout.known(client, prints),
                                             strict=True):
                if exists or fp in seen_here:
                    known += 1
                else:
                    seen_here.add(fp)
                    fresh.append(text)
        return fresh, known


def _lines(handle: TextIO) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(handle, start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            yield number, line
