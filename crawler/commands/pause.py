"""``scrapy pause NAME``: nodes hand out no new requests; in-flight ones finish."""

from __future__ import annotations

from scrapy.commands import ScrapyCommand

from crawler.commands._control import ControlCommand


class Command(ControlCommand, ScrapyCommand):
    """Pause a crawl on every node (``scrapy resume NAME`` undoes it)."""

    state = "paused"
    done = "paused: nodes finish what is in flight and take nothing new"

    def short_desc(self) -> str:
        return "Pause a crawl on every node"
