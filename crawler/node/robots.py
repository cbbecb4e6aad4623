"""Tell the cluster what robots.txt says about pace: its Crawl-delay (or Request-rate).

Scrapy's ``RobotsTxtMiddleware`` reads robots.txt once per node and host, before the
first request to that host goes out. Every domain counts as unread in the frontier (one
request at a time) until a node reports it here: the delay its robots.txt asks for, or 0
when it asks for none or could not be fetched. A delay beyond ``ROBOTSTXT_MAX_DELAY``
(``Crawl-delay: 1e300`` would stop the domain for good, silently) is cut to it, with a
warning.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.http.request import NO_CALLBACK

from crawler.frontier.limits import domain_of

logger = logging.getLogger(__name__)


def asked_delay(parser: Any, useragent: str) -> float:
    """Seconds between requests a robots.txt parser asks of ``useragent`` (0: none).

    Reads Protego (Scrapy's default parser) and ``urllib.robotparser``: the larger of
    ``Crawl-delay`` and the interval of ``Request-rate``."""
    rules = getattr(parser, "rp", parser)
    delay = 0.0
    if callable(getattr(rules, "crawl_delay", None)):
        delay = float(rules.crawl_delay(useragent) or 0)
    if callable(getattr(rules, "request_rate", None)):
        rate = rules.request_rate(useragent)
        if rate is not None and rate.requests:
            delay = max(delay, float(rate.seconds) / rate.requests)
    return delay


def is_robots_download(request: Request) -> bool:
    """Whether ``request`` is the robots.txt download of Scrapy's robots middleware."""
    return request.callback is NO_CALLBACK and request.url.endswith("/robots.txt")


class RobotsReporter:
    """Reports each domain's robots.txt delay once per node, through ``report``."""

    def __init__(self, crawler: Crawler, report: Callable[[str, float], None],
                 max_delay: float) -> None:
        self.report, self.max_delay = report, max_delay
        self.useragent = str(crawler.settings.get("ROBOTSTXT_USER_AGENT")
                             or crawler.settings.get("USER_AGENT"))
        self.known: set[str] = set()
        crawler.signals.connect(self._parsed, signal=signals.robots_parsed)
        crawler.signals.connect(self._reached, signal=signals.request_reached_downloader)

    def _parsed(self, robotparser: Any, request: Request) -> None:
        domain, delay = domain_of(request), asked_delay(robotparser, self.useragent)
        if not delay <= self.max_delay and domain not in self.known:  # (NaN too)
            logger.warning("robots.txt of %s asks for %g s between requests: keeping to "
                           "ROBOTSTXT_MAX_DELAY=%g s", domain, delay, self.max_delay)
            delay = self.max_delay
        self._tell(domain, delay)

    def _reached(self, request: Request) -> None:
        """A request passed the robots middleware: its host's robots.txt was read, or
        failed to download (then it asks for nothing)."""
        if is_robots_download(request) or request.meta.get("dont_obey_robotstxt"):
            return
        self._tell(domain_of(request), 0.0)

    def _tell(self, domain: str, delay: float) -> None:
        if domain and domain not in self.known:
            self.known.add(domain)
            self.report(domain, delay)
