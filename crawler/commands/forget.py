"""``scrapy forget NAME [FILE|-]``: drop URLs' fingerprints, so they count as new again."""

from __future__ import annotations

import argparse

from scrapy.commands import ScrapyCommand
from scrapy.exceptions import UsageError

from crawler.commands._base import CrawlCommand
from crawler.ops import seed_files
from crawler.ops.seen_lookup import SeenLookup


class Command(CrawlCommand, ScrapyCommand):
    """Reads URLs (or JSON seeds) like ``scrapy seed`` and deletes their fingerprints."""

    def syntax(self) -> str:
        return "NAME [FILE|-]"

    def short_desc(self) -> str:
        return "Forget URLs the crawl has seen, so that they can be fetched again"

    def execute(self, args: list[str], opts: argparse.Namespace) -> None:
        name = self.crawl_name(args)
        if len(args) > 2:
            raise UsageError("give one FILE (or - for standard input)")
        assert self.settings is not None
        good, bad = seed_files.SeedReader(self.settings, name).read(
            args[1] if len(args) == 2 else "-")
        _, keys, client = self.open(name)
        recorded = client.hget(keys.seen_meta, "layout")
        if recorded is None:
            print(f"Crawl {name!r} has seen no URL yet; nothing to forget")
            return
        lookup = SeenLookup.of_crawl(client, keys, recorded)
        if lookup.is_bloom:
            self.fail(f"crawl {name!r} keeps its fingerprints in a Bloom filter, which cannot "
                      "forget one URL; seed it with --recrawl instead")
            return
        prints = [fp for seed in good for fp in seed.fingerprints]
        forgotten = lookup.forget(client, prints)
        print(f"Forgot {forgotten} of {len(prints)} URLs (the others were not known)"
              + (f"; {bad} bad lines" if bad else ""))
        if bad:
            self.exitcode = 1
