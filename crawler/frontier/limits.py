"""Per-domain limits that hold for the whole cluster, and the domain a request counts for.

A domain's limits are a cap on its requests in flight (leased to any node, from pop to
acknowledgement) and a pace (at least ``interval`` seconds between two of its requests,
cluster-wide: a rate of N per S seconds is one request every S/N seconds). ``pop.lua``
applies them when it hands requests out; a node holds a request that was handed out
ahead of its time until then, outside its downloader, so a waiting domain occupies no
download slot.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scrapy import Request
from scrapy.utils.httpobj import urlparse_cached

from crawler.errors import ConfigError

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d*)?|\.\d+)\s*(s|sec|seconds?)?\s*$")


@dataclass(frozen=True)
class DomainLimits:
    """How hard the whole cluster may hit one domain."""

    concurrency: int  # requests in flight at once, 0: no cap
    interval: float  # seconds between two requests, 0: no pace

    def spec(self) -> str:
        """The limits as ``pop.lua`` reads them."""
        return f"{self.concurrency} {self.interval!r}"


@dataclass(frozen=True)
class Politeness:
    """The limits of every domain: defaults, per-domain overrides, robots.txt's word."""

    default: DomainLimits = DomainLimits(0, 0.0)
    overrides: tuple[tuple[str, DomainLimits], ...] = ()  # (domain, its limits), sorted
    robots: bool = False  # obey robots.txt: Crawl-delay widens a domain's interval
    robots_max_delay: float = 60.0  # seconds: the widest interval a robots.txt can ask

    def overrides_json(self) -> str:
        """The overrides as ``pop.lua`` reads them (``""`` when there are none)."""
        if not self.overrides:
            return ""
        return json.dumps({d: [lim.concurrency, lim.interval] for d, lim in self.overrides},
                          separators=(",", ":"))


def parse_rate(value: Any, where: str) -> float:
    """Seconds between two requests for a rate ``"N/SECONDS"`` (``""``, ``None``, ``0``: no
    limit); raises ``ConfigError`` naming ``where``."""
    if value in (None, "", 0, "0"):
        return 0.0
    match = _RATE.match(str(value))
    if not match or int(match.group(1)) == 0 or float(match.group(2)) <= 0:
        raise ConfigError(f"{where}={value!r} is not a rate like '10/60' (at most 10 requests "
                          "every 60 seconds)")
    return float(match.group(2)) / int(match.group(1))


def parse_concurrency(value: Any, where: str) -> int:
    """A cap on requests in flight (0: none); raises ``ConfigError`` naming ``where``."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}={value!r} is not a whole number") from None
    if number < 0:
        raise ConfigError(f"{where}={number} must be 0 (no cap) or more")
    return number


def from_values(concurrency: Any, rate: Any, limits: Any, robots: bool,
                robots_max_delay: float = 60.0) -> Politeness:
    """Build the politeness rules from the values of ``DOMAIN_CONCURRENCY``,
    ``DOMAIN_RATE``, ``DOMAIN_LIMITS`` (``{domain: {"concurrency": C, "rate": "N/S"}}``),
    ``ROBOTSTXT_OBEY`` and ``ROBOTSTXT_MAX_DELAY``."""
    default = DomainLimits(parse_concurrency(concurrency, "setting DOMAIN_CONCURRENCY"),
                           parse_rate(rate, "setting DOMAIN_RATE"))
    if isinstance(limits, str):
        try:
            limits = json.loads(limits) if limits.strip() else {}
        except ValueError:
            raise ConfigError(f"setting DOMAIN_LIMITS={limits!r} is not JSON") from None
    if not isinstance(limits, Mapping):
        raise ConfigError(f"setting DOMAIN_LIMITS={limits!r} must map domains to "
                          '{"concurrency": C, "rate": "N/SECONDS"}')
    overrides: dict[str, DomainLimits] = {}
    for domain, own in limits.items():
        where = f"setting DOMAIN_LIMITS[{domain!r}]"
        if not isinstance(own, Mapping) or set(own) - {"concurrency", "rate"}:
            raise ConfigError(f'{where}={own!r} must be {{"concurrency": C, "rate": "N/S"}}')
        overrides[str(domain).lower()] = DomainLimits(
            parse_concurrency(own.get("concurrency", default.concurrency),
                              f"{where}['concurrency']"),
            parse_rate(own["rate"], f"{where}['rate']") if "rate" in own else default.interval)
    return Politeness(default, tuple(sorted(overrides.items())), robots, robots_max_delay)


def domain_of(request: Request) -> str:
    """The domain a request counts for: its host name, lower case (``""`` if none)."""
    url = request.url
    start = url.find("://") + 3
    if start > 2 and url[:start - 3].isalpha():  # the common case: scheme://host[:port]/...
        end = len(url)
        for separator in "/?#":
            found = url.find(separator, start, end)
            if found != -1:
                end = found
        host = url[start:end]
        if "@" not in host and "[" not in host and " " not in host:
            return host.partition(":")[0].lower()
    return (urlparse_cached(request).hostname or "").lower().replace(" ", "%20")
