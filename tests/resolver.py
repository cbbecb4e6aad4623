"""A DNS resolver for test nodes (``TWISTED_DNS_RESOLVER``): names under ``.test`` (reserved by
RFC 6761) resolve to 127.0.0.1, so that a crawl can reach odd host names (braces,
non-ASCII) on the local test site without a network."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from scrapy.resolver import CachingThreadedResolver
from twisted.internet import defer


class LoopbackResolver(CachingThreadedResolver):
    """Scrapy's resolver, with every ``*.test`` name at 127.0.0.1."""

    def getHostByName(self, name: str, timeout: Sequence[int] = ()) -> Any:  # noqa: N802
        if name.lower().endswith(".test"):
            return defer.succeed("127.0.0.1")
        return super().getHostByName(name, timeout)
