"""What the engine's ``scrapy`` commands share: the crawl named on the command line, its
keys and a Redis client, with errors a user can act on.

These are mixins, not ``ScrapyCommand`` subclasses: Scrapy takes every ``ScrapyCommand``
subclass found in ``COMMANDS_MODULE`` for a command of its module's name. A command is
``class Command(CrawlCommand, ScrapyCommand)``."""

from __future__ import annotations

import argparse
import sys

import redis
from scrapy.exceptions import UsageError
from scrapy.settings import Settings

from crawler.errors import CrawlerError
from crawler.node.config import FrontierConfig
from crawler.redis import connection
from crawler.redis.keys import CrawlKeys


class CrawlCommand:
    """Mixin of the commands that act on one crawl, named after its spider."""

    requires_project = True
    requires_crawler_process = False
    where = ""  # the Redis address in use, password hidden
    settings: Settings | None  # (ScrapyCommand's)
    exitcode: int

    def crawl_name(self, args: list[str]) -> str:
        """The crawl named by the first argument; it must be one of the project's spiders."""
        if not args:
            raise UsageError("name the crawl (a spider of this project)")
        from scrapy.spiderloader import get_spider_loader

        assert self.settings is not None
        names = get_spider_loader(self.settings).list()
        if args[0] not in names:
            raise UsageError(f"no spider named {args[0]!r} in this project (spiders: "
                             f"{', '.join(sorted(names)) or 'none'})")
        return args[0]

    def open(self, name: str) -> tuple[FrontierConfig, CrawlKeys, redis.Redis]:
        """The crawl's config, keys and a client; ``CrawlerError`` if Redis cannot be used.
        The seeds are on the key the spider reads (a scrapy-redis spider's ``redis_key``)."""
        assert self.settings is not None
        config = FrontierConfig.from_settings(self.settings)
        keys = self.crawl_keys(config, name)
        url = connection.resolve_url(config.redis)
        self.where = connection.redact(url)
        return config, keys, connection.sync_client(config.redis, url)

    def crawl_keys(self, config: FrontierConfig, name: str) -> CrawlKeys:
        """The keys of crawl ``name``, its seeds on the key its spider reads (a scrapy-redis
        spider's ``redis_key``); a name that is no spider of the project gets the default."""
        from scrapy.spiderloader import get_spider_loader

        assert self.settings is not None
        loader = get_spider_loader(self.settings)
        if name in loader.list():
            return CrawlKeys.for_spider(config.redis.key_prefix, loader.load(name),
                                        config.redis.start_urls_key)
        return CrawlKeys(config.redis.key_prefix, name, config.redis.start_urls_key)

    def fail(self, message: str) -> None:
        """Print a one-line error and make the command exit non-zero."""
        print(f"error: {message}", file=sys.stderr)
        self.exitcode = 1

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        """Run ``execute``, turning the engine's and Redis's errors into one line each."""
        try:
            self.execute(args, opts)
        except CrawlerError as exc:
            self.fail(str(exc))
        except redis.RedisError as exc:
            self.fail(f"Redis error: {exc}")

    def execute(self, args: list[str], opts: argparse.Namespace) -> None:
        """The command's work."""
        raise NotImplementedError
