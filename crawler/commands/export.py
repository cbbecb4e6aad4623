"""``scrapy export NAME -o FILE``: write a crawl's items with Scrapy's feed exporters."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

from scrapy.exceptions import UsageError
from scrapy.exporters import (
    BaseItemExporter,
    CsvItemExporter,
    JsonItemExporter,
    JsonLinesItemExporter,
    XmlItemExporter,
)

from crawler.cli import CrawlCommand
from crawler.items import read_items

EXPORTERS: dict[str, Callable[..., BaseItemExporter]] = {
    "jsonl": JsonLinesItemExporter,
    "jsonlines": JsonLinesItemExporter,
    "json": JsonItemExporter,
    "csv": CsvItemExporter,
    "xml": XmlItemExporter,
}


class Command(CrawlCommand):
    """Streams the items from Redis (constant memory), while the crawl runs or after."""

    def syntax(self) -> str:
        return "NAME -o FILE"

    def short_desc(self) -> str:
        return "Export a crawl's items to a file (jsonl, json, csv, xml)"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("-o", "--output", metavar="FILE", help="file to write; its "
                            f"extension picks the format ({', '.join(EXPORTERS)})")

    def execute(self, args: list[str], opts: argparse.Namespace) -> None:
        name = self.crawl_name(args)
        if not opts.output:
            raise UsageError("give the file to write with -o FILE")
        target = Path(opts.output)
        exporter_cls = EXPORTERS.get(target.suffix.lstrip(".").lower())
        if exporter_cls is None:
            raise UsageError(f"cannot tell the format of {target}: use one of the extensions "
                             f"{', '.join('.' + e for e in EXPORTERS)}")
        _, keys, client = self.open(name)
        partial = target.with_name(f".{target.name}.partial")
        count = 0
        with partial.open("wb") as handle:
            exporter = exporter_cls(handle, encoding="utf-8")
            exporter.start_exporting()
            for _, item in read_items(client, keys):
                exporter.export_item(item)
                count += 1
            exporter.finish_exporting()
        os.replace(partial, target)
        print(f"Exported {count} items of crawl {name!r} to {target.resolve()}")
