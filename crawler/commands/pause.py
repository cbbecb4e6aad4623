"""``scrapy pause NAME``: nodes hand out no new requests; in-flight ones finish."""

from __future__ import annotations

from crawler.control import ControlCommand


class Command(ControlCommand):
    """Pause a crawl on every node (``scrapy resume NAME`` undoes it)."""

    state = "paused"
    done = "paused: nodes finish what is in flight and take nothing new"

    def short_desc(self) -> str:
        return "Pause a crawl on every node"
