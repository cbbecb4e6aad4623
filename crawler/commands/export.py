"""``scrapy export NAME -o FILE [--since CURSOR] [--trim]``: write a crawl's items with
Scrapy's feed exporters; ``--postgres`` upserts them into the PostgreSQL item table instead.

Both stream the Redis item store in stream order (constant memory) and end by printing the
cursor to pass next time: the stream id of the last item read. Items stored later always
come after it, so exports chained with ``--since`` miss none and repeat none. ``--trim``
deletes what the file holds from Redis once the file is complete; ``--postgres`` trims
each batch it committed when ``ITEMS_TRIM_COMMITTED`` is on (as the nodes do). Items a
durable store committed and trimmed are no longer in Redis: the export says so.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path

import redis
from scrapy.commands import ScrapyCommand
from scrapy.exceptions import UsageError
from scrapy.exporters import (
    BaseItemExporter,
    CsvItemExporter,
    JsonItemExporter,
    JsonLinesItemExporter,
    XmlItemExporter,
)

from crawler.commands._base import CrawlCommand
from crawler.items.config import ItemsConfig, PostgresConfig
from crawler.items.stream import START, check_cursor, read_items, trim_range, trimmed_after
from crawler.redis.keys import CrawlKeys

EXPORTERS: dict[str, Callable[..., BaseItemExporter]] = {
    "jsonl": JsonLinesItemExporter,
    "jsonlines": JsonLinesItemExporter,
    "json": JsonItemExporter,
    "csv": CsvItemExporter,
    "xml": XmlItemExporter,
}


class Command(CrawlCommand, ScrapyCommand):
    """Streams the items from Redis, while the crawl runs or after."""

    def syntax(self) -> str:
        return "NAME (-o FILE [--trim] | --postgres) [--since CURSOR]"

    def short_desc(self) -> str:
        return "Export a crawl's items to a file (jsonl, json, csv, xml) or to PostgreSQL"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("-o", "--output", metavar="FILE", help="file to write; its "
                            f"extension picks the format ({', '.join(EXPORTERS)})")
        parser.add_argument("--postgres", action="store_true", help="upsert the items into "
                            "the PostgreSQL table of POSTGRES_DSN instead (each key once)")
        parser.add_argument("--since", metavar="CURSOR", help="only the items stored after "
                            "this cursor (the one the previous export printed)")
        parser.add_argument("--trim", action="store_true", help="once FILE is complete, "
                            "delete the items it holds from Redis (their once-only records "
                            "stay)")

    def execute(self, args: list[str], opts: argparse.Namespace) -> None:
        name = self.crawl_name(args)
        try:
            since = check_cursor(opts.since) if opts.since is not None else START
        except ValueError as exc:
            raise UsageError(f"--since: {exc}") from None
        if bool(opts.output) == bool(opts.postgres):
            raise UsageError("give the file to write with -o FILE, or --postgres")
        if opts.trim and opts.postgres:
            raise UsageError("--trim goes with -o FILE; --postgres trims what it commits "
                             "unless ITEMS_TRIM_COMMITTED is False")
        if opts.postgres:
            self.to_postgres(name, since)
        else:
            self.to_file(name, Path(opts.output), since, opts.trim)

    @staticmethod
    def say_trimmed(client: redis.Redis, keys: CrawlKeys, since: str) -> None:
        """Warn when items stored after ``since`` were trimmed: Redis no longer has them."""
        trimmed = trimmed_after(client, keys, since)
        if trimmed is not None:
            total, latest = trimmed
            print(f"warning: items of crawl {keys.crawl!r} stored after "
                  f"{'the start' if since == START else since} were trimmed from Redis once a "
                  f"durable store (PostgreSQL, a feed file, an export --trim) had them "
                  f"({total} trimmed in all, the latest {latest}); this export has only the "
                  f"items still kept", file=sys.stderr)

    def to_file(self, name: str, target: Path, since: str, trim: bool) -> None:
        exporter_cls = EXPORTERS.get(target.suffix.lstrip(".").lower())
        if exporter_cls is None:
            raise UsageError(f"cannot tell the format of {target}: use one of the extensions "
                             f"{', '.join('.' + e for e in EXPORTERS)}")
        _, keys, client = self.open(name)
        self.say_trimmed(client, keys, since)
        partial = target.with_name(f".{target.name}.partial")
        count, cursor = 0, since
        with partial.open("wb") as handle:
            exporter = exporter_cls(handle, encoding="utf-8")
            exporter.start_exporting()
            for stream_id, item in read_items(client, keys, since):
                exporter.export_item(item)
                count, cursor = count + 1, stream_id
            exporter.finish_exporting()
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, target)
        print(f"Exported {count} items of crawl {name!r} to {target.resolve()}")
        if trim and count:
            gone = trim_range(client, keys, since, cursor)
            print(f"Trimmed {gone} items from the Redis item store {keys.items}")
        print(f"Next cursor: {cursor} (scrapy export {name} -o FILE --since {cursor})")

    def to_postgres(self, name: str, since: str) -> None:
        import psycopg

        # Imported here: only this option needs psycopg.
        from crawler.items.postgres_table import backfill, describe, scrub

        assert self.settings is not None
        config = PostgresConfig.from_settings(self.settings)
        if config.dsn is None:
            raise UsageError("--postgres needs POSTGRES_DSN (a setting or environment variable)")
        items = ItemsConfig.from_settings(self.settings)
        _, keys, client = self.open(name)
        self.say_trimmed(client, keys, since)
        where = f"PostgreSQL at {describe(config.dsn)}"
        count, cursor = 0, since

        def progress(upserted: int, after: str) -> None:
            nonlocal count, cursor
            count, cursor = upserted, after

        try:
            asyncio.run(backfill(config, items.key_field, keys, client, since, progress,
                                 trim=items.trim_committed))
        except psycopg.Error as exc:
            self.fail(f"{where}: {scrub(exc, config.dsn)}; {count} items were "
                      f"upserted: resume with scrapy export {name} --postgres --since {cursor}")
            return
        table = ".".join(config.table)
        print(f"Upserted {count} items of crawl {name!r} into table {table} of {where}")
        print(f"Next cursor: {cursor} (scrapy export {name} --postgres --since {cursor})")
