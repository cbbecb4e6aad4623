"""``scrapy seed NAME [FILE|-] [--recrawl]``: add start URLs to a crawl."""

from __future__ import annotations

import argparse

from scrapy.exceptions import UsageError

from crawler import seedfile
from crawler.cli import CrawlCommand
from crawler.fingerprints import layout_from_json

CHUNK = 1000


class Command(CrawlCommand):
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
            "de-duplication and RECRAWL_AFTER_DAYS). A bad line is reported with its line "
            "number, the others are still seeded, and the command exits with status 1."
        )

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--recrawl", action="store_true",
                            help="fetch the seeds even if the crawl has seen them")

    def execute(self, args: list[str], opts: argparse.Namespace) -> None:
        name = self.crawl_name(args)
        if len(args) > 2:
            raise UsageError("give one FILE (or - for standard input)")
        good, bad = seedfile.read(args[1] if len(args) == 2 else "-")
        config, keys, client = self.open(name)
        assert self.settings is not None
        if opts.recrawl:
            fresh = [seedfile.stored({**seed, "dont_filter": True}) for _, seed in good]
            known = 0
        else:
            recorded = client.hget(keys.seen_meta, "layout") or config.fingerprint_layout()
            layout = layout_from_json(keys, recorded, config.recrawl_days)
            prints = seedfile.fingerprints(self.settings, name, good)
            fresh, seen_here, known = [], set(), 0
            for start in range(0, len(good), CHUNK):
                chunk = prints[start:start + CHUNK]
                for (text, _), fp, is_known in zip(good[start:start + CHUNK], chunk,
                                                   layout.known(client, chunk), strict=True):
                    if is_known or fp in seen_here:
                        known += 1
                    else:
                        seen_here.add(fp)
                        fresh.append(text)
        for start in range(0, len(fresh), CHUNK):
            lines = fresh[start:start + CHUNK]
            if config.start_urls_as_set:
                client.sadd(keys.start_urls, *lines)
            else:
                client.rpush(keys.start_urls, *lines)
        print(f"Seeded {len(fresh)} URLs into {keys.start_urls}; {known} already known"
              + (" (--recrawl: fetched again)" if opts.recrawl else "")
              + (f"; {bad} bad lines" if bad else ""))
        if bad:
            self.exitcode = 1
