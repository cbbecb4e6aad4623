"""``scrapy resume NAME``: undo ``scrapy pause`` or ``scrapy stop``."""

from __future__ import annotations

from scrapy.commands import ScrapyCommand

from crawler.commands._control import ControlCommand


class Command(ControlCommand, ScrapyCommand):
    """Let a paused crawl go on, or a stopped one be started again with ``scrapy crawl``."""

    state = ""
    done = "running (start nodes with `scrapy crawl` if it was stopped)"

    def short_desc(self) -> str:
        return "Resume a paused or stopped crawl"
