"""One round trip of calls queued on a redis-py pipeline, at the cost of the round trip.

redis-py's ``Pipeline.execute`` spends about 120 µs of a node's CPU each round (redis-py
8.1, asyncio) in tasks and timers around the I/O: a task to send under ``wait_for``, a
timeout for each reply, a shielded task to release the connection. The exchange loop
sends a round every few ms, so that was as much as the rest of a round. On a single
Redis (or Sentinel's master) the calls whose replies redis-py hands back as they are
(``EVALSHA``, ``WAIT``) go here on one of the client's pooled connections instead: one
write (packed by hiredis, a sixth of redis-py's packing time), one timeout for the whole
round, the replies read by the connection's own parser.
Anything else, and every call on a Redis Cluster (whose pipeline routes by slot), goes
through ``Pipeline.execute``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import hiredis
import redis

from crawler.redis import durability

# Commands redis-py returns the reply of as the parser gives it (no response callback).
AS_PARSED = frozenset({"EVALSHA", "WAIT"})


async def send(client: Any, pipe: Any) -> list[Any]:
    """Send the calls queued on ``pipe`` (a pipeline of ``client``) in one round trip;
    their replies in order, a call's error (``ResponseError``) as its reply. A connection
    that failed or timed out is closed (replies may still be on their way) and the error
    raised, as redis-py's connection errors."""
    if durability.is_cluster(client) or any(
            str(args[0]).upper() not in AS_PARSED for args, _ in pipe.command_stack):
        return list(await pipe.execute(raise_on_error=False))
    stack = pipe.command_stack
    pool = client.connection_pool
    conn = await pool.get_connection()
    try:
        async with asyncio.timeout(conn.socket_timeout):
            conn._writer.write(b"".join(hiredis.pack_command(args) for args, _ in stack))
            await conn._writer.drain()
            return [await conn._parser.read_response() for _ in stack]
    except BaseException as exc:
        await conn.disconnect(nowait=True)
        if isinstance(exc, TimeoutError):
            raise redis.TimeoutError("Timeout reading from Redis") from None
        if isinstance(exc, OSError):
            raise redis.ConnectionError(f"Error reading from Redis: {exc}") from exc
        raise
    finally:
        await pool.release(conn)
