"""Reading seed files for ``scrapy seed`` and ``scrapy forget``: each line is built into
requests exactly as a node will build it, and whatever a node would fail on is reported
as ``FILE:LINE: what is wrong``."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Any, BinaryIO, NamedTuple

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import UsageError
from scrapy.settings import Settings
from scrapy.spiderloader import get_spider_loader
from scrapy.utils.misc import build_from_crawler, load_object

from crawler.frontier.limits import domain_of
from crawler.node import seeds
from crawler.ops.seen_lookup import Print


class Seed(NamedTuple):
    """A good line: as stored in Redis, its requests' fingerprints (with their domains, whose
    partitions record them), and whether one of them is fetched even if seen
    (``dont_filter``)."""

    text: str
    fingerprints: list[Print]
    always: bool


class SeedReader:
    """Builds a crawl's seeds as its nodes will: by the spider's ``make_request_from_data``
    when it has one, else by ``crawler.node.seeds``; fingerprints by its
    ``REQUEST_FINGERPRINTER``."""

    def __init__(self, settings: Settings, crawl: str, recrawl: bool = False) -> None:
        spidercls = get_spider_loader(settings).load(crawl)
        crawler = Crawler(spidercls, settings)
        self.hook: seeds.Hook | None = None
        if hasattr(spidercls, "make_request_from_data"):
            try:
                self.hook = spidercls.from_crawler(crawler).make_request_from_data
            except Exception as exc:
                raise UsageError(f"cannot create spider {crawl!r} to build its seeds: "
                                 f"{type(exc).__name__}: {exc}") from None
        self.fingerprinter = build_from_crawler(
            load_object(crawler.settings["REQUEST_FINGERPRINTER_CLASS"]), crawler)
        self.recrawl = recrawl

    def read(self, source: str) -> tuple[list[Seed], int]:
        """The good seeds of FILE (or ``-``: standard input), and how many lines were bad.

        Each bad line is reported on standard error as ``FILE:LINE: what is wrong``.
        """
        if source == "-":
            return self._read(sys.stdin.buffer, "<stdin>")
        try:
            with open(source, "rb") as handle:
                return self._read(handle, source)
        except OSError as exc:
            raise UsageError(f"cannot read {source}: {exc.strerror}") from None

    def _read(self, handle: BinaryIO, where: str) -> tuple[list[Seed], int]:
        good: list[Seed] = []
        bad = 0
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                good.append(self.seed(line))
            except UnicodeDecodeError:
                print(f"{where}:{number}: not UTF-8 text", file=sys.stderr)
                bad += 1
            except Exception as exc:  # whatever a node would fail on
                reason = str(exc) if isinstance(exc, seeds.SeedError) else \
                    f"{type(exc).__name__}: {exc}"
                print(f"{where}:{number}: {reason}", file=sys.stderr)
                bad += 1
        return good, bad

    def seed(self, line: str) -> Seed:
        """The line as it will be stored, built as a node will build it."""
        if self.hook is not None:
            text = line.strip()  # the spider's hook owns the format
            requests = seeds.build(text.encode("utf-8"), self.hook)
        else:  # what seeds.build does with the stored text, without parsing it twice
            seed = seeds.parse(line)
            if self.recrawl:
                seed["dont_filter"] = True
            text, requests = stored(seed), [seeds.to_request(seed)]
        if not requests:
            raise seeds.SeedError("the spider's make_request_from_data made no request of it")
        if self.recrawl and not all(request.dont_filter for request in requests):
            raise seeds.SeedError("--recrawl: the spider's make_request_from_data made a "
                                  "request without dont_filter, which a crawl that has seen "
                                  "it skips")
        return Seed(text, self.fingerprints(requests),
                    any(request.dont_filter for request in requests))

    def fingerprints(self, requests: Iterable[Request]) -> list[Print]:
        """Each request's fingerprint and domain, as a node computes them to push it."""
        return [Print(self.fingerprinter.fingerprint(request), domain_of(request))
                for request in requests]


def stored(seed: dict[str, Any]) -> str:
    """The seed as a line in the start-URL list."""
    if set(seed) == {"url"}:
        return str(seed["url"])
    return json.dumps(seed, ensure_ascii=False)
