"""What a node needs of Scrapy's engine: its slot's requests in progress, and its wake-up.

A request is done (its callback and item pipelines finished) when it leaves the engine
slot's ``inprogress``: only then may the frontier acknowledge it. Scrapy has no public
"request finished" signal yet (scrapy#7978), so the node watches the engine's private
``_slot``; ``engine_slot`` checks at start-up that this Scrapy still exposes it.
"""

from __future__ import annotations

import logging
from collections.abc import Container
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from crawler.errors import CrawlerError

if TYPE_CHECKING:
    from scrapy import Request

logger = logging.getLogger(__name__)


class NextCall(Protocol):
    """The engine's ``nextcall`` (Scrapy's ``CallLaterOnce``)."""

    def schedule(self, delay: float = 0) -> None:
        """Run the engine's next step soon: new requests are ready, or the crawl may end."""


@runtime_checkable
class EngineSlot(Protocol):
    """Scrapy's ``ExecutionEngine._slot``, as far as the node reads it (never writes)."""

    @property
    def inprogress(self) -> Container[Request]:
        """The requests the engine took from the scheduler and has not finished."""

    @property
    def nextcall(self) -> NextCall:
        """What wakes the engine up."""


def engine_slot(engine: object) -> EngineSlot:
    """The slot of a running ``engine``; raises ``CrawlerError`` if this Scrapy has none."""
    slot = getattr(engine, "_slot", None)
    if not isinstance(slot, EngineSlot):
        raise CrawlerError(
            "this Scrapy version's engine has no _slot.inprogress/_slot.nextcall, which "
            "the Redis scheduler needs to know when a request is done")
    return slot
