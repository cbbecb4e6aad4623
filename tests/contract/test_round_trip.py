"""A round sent on a pooled connection (``crawler.redis.round_trip``) reads like redis-py's
pipeline: the replies in order, a call's error as its reply; a round cut off by a timeout
or a dropped connection raises redis-py's error and leaves no reply for the next round to
read as its own."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis
import redis.asyncio

from crawler.redis import round_trip

ECHO = "return {KEYS[1], ARGV[1]}"


def queued(client: redis.asyncio.Redis, sha: str, *words: str) -> Any:
    """A pipeline of ``client`` with one EVALSHA of ``sha`` a word, and a WAIT."""
    pipe = client.pipeline(transaction=False)
    for word in words:
        pipe.execute_command("EVALSHA", sha, 1, "key", word)
    pipe.execute_command("WAIT", 0, 0)
    return pipe


def test_the_replies_come_back_as_redis_pys_pipeline_gives_them(redis_url: str) -> None:
    async def main() -> tuple[list[Any], list[Any]]:
        async with redis.asyncio.Redis.from_url(redis_url, socket_timeout=5) as client:
            sha = await client.script_load(ECHO)
            mine = await round_trip.send(client, queued(client, sha, "a", "b"))
            pipe = queued(client, sha, "a")
            pipe.execute_command("EVALSHA", "0" * 40, 0)  # not loaded: NOSCRIPT
            mine += await round_trip.send(client, pipe)
            pipe = queued(client, sha, "a", "b")
            theirs = await pipe.execute(raise_on_error=False)
            pipe = queued(client, sha, "a")
            pipe.execute_command("EVALSHA", "0" * 40, 0)
            theirs += await pipe.execute(raise_on_error=False)
            return mine, theirs

    mine, theirs = asyncio.run(main())
    assert mine[:4] == [[b"key", b"a"], [b"key", b"b"], 0, [b"key", b"a"]]
    assert isinstance(mine[5], redis.exceptions.NoScriptError)
    assert [(type(r), str(r)) if isinstance(r, Exception) else r for r in mine] == [
        (type(r), str(r)) if isinstance(r, Exception) else r for r in theirs]


def test_a_round_past_the_timeout_leaves_no_reply_for_the_next(redis_url: str) -> None:
    async def main() -> list[Any]:
        async with redis.asyncio.Redis.from_url(redis_url, socket_timeout=0.3) as client:
            sha = await client.script_load(ECHO)
            with redis.Redis.from_url(redis_url) as admin:
                admin.client_pause(800, all=False)  # scripts wait: their replies come late
            with pytest.raises(redis.TimeoutError):
                await round_trip.send(client, queued(client, sha, "late"))
            await asyncio.sleep(1.0)  # the paused round ran, its replies went nowhere
            return await round_trip.send(client, queued(client, sha, "next"))

    assert asyncio.run(main()) == [[b"key", b"next"], 0]


def test_a_round_whose_connection_drops_raises_a_connection_error(redis_url: str) -> None:
    async def main() -> list[Any]:
        async with redis.asyncio.Redis.from_url(redis_url, socket_timeout=5) as client:
            sha = await client.script_load(ECHO)
            with redis.Redis.from_url(redis_url) as admin:
                admin.client_pause(1000, all=False)
                cut = asyncio.get_running_loop().call_later(
                    0.2, lambda: admin.client_kill_filter(_type="normal", skipme=True))
                with pytest.raises(redis.ConnectionError):
                    await round_trip.send(client, queued(client, sha, "cut"))
                cut.cancel()
                admin.client_unpause()
            return await round_trip.send(client, queued(client, sha, "next"))

    assert asyncio.run(main()) == [[b"key", b"next"], 0]
