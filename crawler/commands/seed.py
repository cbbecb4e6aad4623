"""``scrapy seed NAME [FILE|-] [--recrawl]``: add start URLs to a crawl."""

from __future__ import annotations

import argparse
import itertools

import redis
from scrapy.commands import ScrapyCommand
from scrapy.exceptions import UsageError

from crawler.commands._base import CrawlCommand
from crawler.ops import seed_files
from crawler.ops.seen_lookup import SeenLookup
from crawler.redis import durability

CHUNK = 1000


class Command(CrawlCommand, ScrapyCommand):
    """Reads one seed a line (a URL, or scrapy-redis's JSON ``{"url", "meta", "priority"}``)."""

    def syntax(self) -> str:
        return "NAME [FILE|-] [--recrawl]"

    def short_desc(self) -> str:
        return "Add start URLs (one a line, or JSON lines) to a crawl"

    def long_desc(self) -> str:
        return (
            "Reads FILE (or standard input with -), one seed a line: a URL, or a JSON object "
            '{"url": ..., "meta": {...}, "priority": n}. Blank lines and lines starting with # '
            "are skipped. Seeds the crawl already knows are not added again, unless --recrawl "
            "(then they are fetched again; the pages they link to still follow the crawl's "
            "de-duplication and RECRAWL_AFTER_DAYS). Each line is built into requests as a "
            "node will (by the spider's make_request_from_data if it has one); a line a node "
            "would fail on is reported as FILE:LINE, the others are still seeded, and the "
            "command exits with status 1."
        )

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--recrawl", action="store_true",
                            help="fetch the seeds even if the crawl has seen them")

    def execute(self, args: list[str], opts: argparse.Namespace) -> None:
        name = self.crawl_name(args)
        if len(args) > 2:
            raise UsageError("give one FILE (or - for standard input)")
        assert self.settings is not None
        reader = seed_files.SeedReader(self.settings, name, recrawl=opts.recrawl)
        good, bad = reader.read(args[1] if len(args) == 2 else "-")
        config, keys, client = self.open(name)
        if opts.recrawl:
            fresh, known = [seed.text for seed in good], 0
        else:
            recorded = client.hget(keys.seen_meta, "layout") or config.fingerprint_layout()
            lookup = SeenLookup.of_crawl(client, keys, recorded, config.recrawl_days)
            fresh, known = new_seeds(good, lookup, client)
        for start in range(0, len(fresh), CHUNK):
            store(client, keys.start_urls, fresh[start:start + CHUNK],
                  config.redis.start_urls_as_set)
        print(f"Seeded {len(fresh)} URLs into {keys.start_urls}; {known} already known"
              + (" (--recrawl: fetched again)" if opts.recrawl else "")
              + (f"; {bad} bad lines" if bad else ""))
        if bad:
            self.exitcode = 1


def store(client: redis.Redis, key: str, lines: list[str], as_set: bool) -> None:
    """Add ``lines`` to ``key``; stored means on the replicas ``REDIS_WAIT_REPLICAS`` asks
    for. A master left with fewer replicas gets them again once (a seed stored twice is
    dropped by the fingerprints, or fetched twice if ``dont_filter``); ``NotDurableError``
    else."""
    wait = durability.of(client)
    for attempt in range(2):
        pipe = client.pipeline(transaction=False)
        if as_set:
            pipe.sadd(key, *lines)
        else:
            pipe.rpush(key, *lines)
        if not wait.queue_wait(pipe, client, key):
            pipe.execute()
            return
        try:
            wait.confirm_sync(client, key, pipe.execute()[-1])
            return
        except durability.NotDurableError:
            if attempt:
                raise


def new_seeds(good: list[seed_files.Seed], lookup: SeenLookup, client: redis.Redis) -> \
        tuple[list[str], int]:
    """The lines to seed (those with a request the crawl has not seen, nor an earlier line
    of the file, or one fetched even if seen) and how many lines were left out."""
    prints = [fp for seed in good for fp in seed.fingerprints]
    known_prints = iter(zip(prints, lookup.known(client, prints), strict=True))
    fresh, known, seen_here = [], 0, set()
    for seed in good:
        new = seed.always
        for fp, is_known in itertools.islice(known_prints, len(seed.fingerprints)):
            new = new or not (is_known or fp in seen_here)
            seen_here.add(fp)
        if new:
            fresh.append(seed.text)
        else:
            known += 1
    return fresh, known
