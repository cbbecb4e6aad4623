"""``scrapy settings``: Scrapy's own command, showing the settings a crawl gets from the
RedisFrontier add-on too (``scrapy settings --get SCHEDULER_PREFETCH`` prints ``64``).

Scrapy applies add-ons only when it builds a crawler, which this command does not.
"""

from __future__ import annotations

import argparse
import sys

from scrapy.commands.settings import Command as ScrapySettingsCommand

from crawler import addon
from crawler.addon import RedisFrontier
from crawler.errors import CrawlerError


class Command(ScrapySettingsCommand):
    """Get settings values, the add-on's included."""

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        try:
            if addon.enabled(self.settings):
                RedisFrontier().update_settings(self.settings)
        except CrawlerError as exc:
            print(f"error: {exc}", file=sys.stderr)
            self.exitcode = 1
            return
        super().run(args, opts)
