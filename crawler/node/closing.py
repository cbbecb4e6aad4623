"""What a stopping node sends last: everything it owes the frontier, with the leases it did
not finish handed back, retried while Redis fails for up to ``CLOSE_RETRY_SECONDS``; then
it leaves the cluster. What cannot be sent is not lost: its leases expire, and other nodes
fetch those requests again."""

from __future__ import annotations

import asyncio
import logging
import time

import redis

from crawler.frontier.exchange import Frontier
from crawler.node.outbox import Outbox
from crawler.redis.connection import redact

logger = logging.getLogger("crawler.node.exchange_loop")  # where users have always seen it

CLOSE_RETRY_SECONDS = 30.0


async def send_last(frontier: Frontier, outbox: Outbox, release: list[str], url: str) -> None:
    """Send what ``outbox`` holds and hand back ``release``, in as many rounds as the
    pushes take, then leave; give up with one error line after ``CLOSE_RETRY_SECONDS``."""
    deadline = time.monotonic() + CLOSE_RETRY_SECONDS
    while True:
        sent = outbox.plan(pop=0, heartbeat=None, release=release)
        try:
            got = await frontier.exchange(sent.out)
            outbox.forget_saved(sent, got)
            if got.error is not None:
                raise got.error
            if outbox.unsaved():
                continue  # pushes that took several scripts: their acks go now
            await frontier.leave()
            break
        except (redis.RedisError, OSError) as exc:
            if time.monotonic() > deadline:
                book = outbox.book
                logger.error(
                    "Redis at %s unreachable or refusing at close (%s): %d new requests "
                    "and %d acks not saved; the leases of this node's requests expire and "
                    "other nodes fetch them again, so nothing is lost", redact(url),
                    exc, len(outbox.pushes), len(book.done) + len(book.done_saved))
                return
            await asyncio.sleep(1.0)
    logger.info("Frontier closed: %d requests handed back", len(release))
