"""``scrapy crawl NAME``: Scrapy's own command, which first checks that Redis answers.

A node that cannot reach Redis says so in one line (address shown, password hidden)
and exits with status 1, instead of failing inside the engine with a traceback. A node
whose frontier task failed (the spider closed with reason ``frontier_error``) exits 1 too.
"""

from __future__ import annotations

import argparse
import sys

from scrapy.commands.crawl import Command as ScrapyCrawlCommand

from crawler import addon
from crawler.errors import CrawlerError
from crawler.items.config import ItemsConfig, PostgresConfig
from crawler.node.config import FrontierConfig
from crawler.node.exchange_loop import failed_crawls
from crawler.redis import connection


class Command(ScrapyCrawlCommand):
    """Run a crawl node."""

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        try:
            if addon.enabled(self.settings):  # a SCHEDULER it refuses: one line, not a traceback
                addon.install_scheduler(self.settings.copy())
            config = FrontierConfig.from_settings(self.settings)
            ItemsConfig.from_settings(self.settings)  # a bad value: one line, now
            PostgresConfig.from_settings(self.settings)
            connection.sync_client(config.redis, connection.resolve_url(config.redis)).close()
        except CrawlerError as exc:
            print(f"error: {exc}", file=sys.stderr)
            self.exitcode = 1
            return
        super().run(args, opts)
        if failed_crawls:  # closed with reason frontier_error: a supervisor restarts it
            self.exitcode = 1
