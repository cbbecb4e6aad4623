"""``scrapy stop NAME``: every node ends cleanly; the crawl's state stays for a resume."""

from __future__ import annotations

from scrapy.commands import ScrapyCommand

from crawler.commands._control import ControlCommand


class Command(ControlCommand, ScrapyCommand):
    """Stop every node of a crawl, keeping its state (``scrapy resume NAME`` to go on)."""

    state = "stopped"
    done = "stopped: every node hands back its requests and exits; state kept"

    def short_desc(self) -> str:
        return "Stop every node of a crawl, keeping its state"
