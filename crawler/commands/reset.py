"""``scrapy reset NAME [--yes]``: delete one crawl's keys, and only its keys."""

from __future__ import annotations

import argparse
import sys

from scrapy.commands import ScrapyCommand

from crawler.commands._base import CrawlCommand
from crawler.frontier import deletion


class Command(CrawlCommand, ScrapyCommand):
    """Deletes the queue, fingerprints, leases, items, stats and seeds of one crawl."""

    def syntax(self) -> str:
        return "NAME [--yes]"

    def short_desc(self) -> str:
        return "Delete all of a crawl's state in Redis (asks first)"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--yes", "-y", action="store_true", help="do not ask")

    def execute(self, args: list[str], opts: argparse.Namespace) -> None:
        name = self.crawl_name(args)
        _, keys, client = self.open(name)
        found = deletion.crawl_keys(client, keys)
        where = self.where
        if not found:
            print(f"Crawl {name!r} has no keys at {where}; nothing to delete")
            return
        if not opts.yes:
            if not sys.stdin.isatty():
                self.fail(f"not deleting the {len(found)} keys of crawl {name!r} without "
                          "confirmation: pass --yes")
                return
            answer = input(f"Delete the {len(found)} keys of crawl {name!r} at {where}? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                print("Nothing deleted")
                return
        deleted = deletion.delete_crawl(client, keys)
        print(f"Deleted {deleted} keys of crawl {name!r}")
