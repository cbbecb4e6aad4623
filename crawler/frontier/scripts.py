"""The frontier's Lua scripts (``crawler/frontier/lua/*.lua``), queued by SHA on a pipeline.

Scripts are sent with ``EVALSHA`` inside the caller's pipeline, so that one round trip
carries several of them. ``load`` puts them in the script cache of every node (on a Redis
Cluster the replicas' too, so that a promoted replica has them); after a restart, a
``SCRIPT FLUSH`` or a node the cluster did not have at start, a call fails with
``NoScriptError`` (it did not run) and the caller loads and sends it again.

On a Redis Cluster, redis-py blocks ``pipe.evalsha`` (redis-py #2914): calls are queued
as ``execute_command("EVALSHA", ...)``, which the cluster pipeline routes by the slot of
the keys (all of a call's keys share the crawl's slot). Redis replicates asynchronously
and redis-py re-sends a call whose reply it lost (a broken connection, or a cluster
pipeline retry of calls whose reply was falsy), so every script must give the same state
when it runs twice: push (fingerprints make a repeat a duplicate; a ``dont_filter``
push, without one, is enqueued twice: fetched twice, never lost), release, renew,
heartbeat, robots, migrate and store_items (keyed by lease, entry or item key) are;
pop leases a further batch when repeated (those leases expire and go back: a delay,
not a loss).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from crawler.redis import durability, round_trip

LUA_DIR = Path(__file__).with_name("lua")


@dataclass(frozen=True)
class Script:
    """One Lua script: its text and SHA1."""

    name: str
    text: str

    @functools.cached_property
    def sha(self) -> str:
        """The SHA1 that ``EVALSHA`` names the script by (hashed once: every call names
        it, and the text, ``lib.lua`` included, is several kilobytes)."""
        return hashlib.sha1(self.text.encode()).hexdigest()

    def queue(self, pipe: Any, keys: list[str], args: list[Any]) -> None:
        """Queue a call of this script on ``pipe`` (a pipeline, or a cluster pipeline)."""
        pipe.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)

    async def run(self, client: Any, keys: list[str], args: list[Any]) -> Any:
        """Run the script alone on an asyncio client (see ``execute``); it counts as done
        once the replicas ``REDIS_WAIT_REPLICAS`` asks for have it (else
        ``NotDurableError``: run it again)."""
        (reply,), not_durable = await execute(
            client, lambda pipe: self.queue(pipe, keys, args), [keys[0]])
        if isinstance(reply, Exception):
            raise reply
        if not_durable is not None:
            raise not_durable
        return reply


class _Calls:
    """The calls a ``queue`` function makes on a pipeline, kept to be put on one (and the
    ones a node refused, on another)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Callable[..., _Calls]:
        def call(*args: Any, **kwargs: Any) -> _Calls:
            self.calls.append((name, args, kwargs))
            return self
        return call

    def put(self, pipe: Any, indexes: Sequence[int]) -> None:
        """Queue the calls at ``indexes`` on ``pipe``."""
        for index in indexes:
            name, args, kwargs = self.calls[index]
            getattr(pipe, name)(*args, **kwargs)


async def execute(client: Any, queue: Callable[[Any], object],
                  durable_keys: Sequence[str]) -> tuple[list[Any], Exception | None]:
    """Send the calls ``queue`` puts on a pipeline in one round trip and return their
    replies (errors included), and why they are not durable (``None``: they are).

    A ``NoScriptError`` means a node lost its script cache (restart, ``SCRIPT FLUSH``, a
    master added to a cluster): the scripts are loaded and the calls it refused, and only
    those, are sent again (the others ran: a pop sent twice would lease twice). The writes
    for ``durable_keys`` (``queue`` may fill it in) are followed by a ``WAIT`` for the
    replicas on the connection of each master that holds one of them, in each sending, and
    count as durable only if every master's replicas have them every time (see
    ``crawler.redis.durability``) and no key's slot moved meanwhile (redis-py sends a call
    answered ``MOVED`` again after the pipeline, its ``WAIT`` included, to the new master).
    """
    wait = durability.of(client)
    calls = _Calls()
    queue(calls)
    replies: list[Any] = [None] * len(calls.calls)
    todo: Sequence[int] = range(len(calls.calls))
    waits: list[tuple[str, Any]] = []
    homes: list[str] = []
    for attempt in (1, 2):
        pipe = client.pipeline(transaction=False)
        calls.put(pipe, todo)
        masters = durability.one_key_a_master(client, durable_keys) if wait.replicas else []
        homes = homes or (_homes(client, durable_keys) if masters else [])
        for key in masters:
            await wait.prepare(client, key)
        waited = [key for key in masters if wait.queue_wait(pipe, client, key)]
        got = await round_trip.send(client, pipe)
        for index, reply in zip(todo, got, strict=False):
            replies[index] = reply
        waits += zip(waited, got[len(todo):], strict=True)
        todo = [i for i in todo if isinstance(replies[i], redis.exceptions.NoScriptError)]
        if attempt == 2 or not todo:
            break
        await load(client)
    if not waits:
        return replies, None
    not_durable: Exception | None = None
    if _homes(client, durable_keys) != homes:
        # A slot moved (MOVED): redis-py sent its writes again, to the new master, after
        # the WAIT on the old one; no WAIT covers them.
        not_durable = durability.NotDurableError(
            f"{wait.where}: a slot moved to another master during the round; its writes "
            "go again")
    for key, reply in waits:  # each master's verdict, each time
        try:
            await wait.confirm(client, key, reply)
        except (redis.RedisError, OSError) as exc:
            not_durable = not_durable or exc
    return replies, not_durable


def _homes(client: Any, keys: Sequence[str]) -> list[str]:
    """The node that serves each of ``keys``, as a cluster client's slot table says now."""
    if not durability.is_cluster(client):
        return []
    return [str(client.get_node_from_key(key).name) for key in keys]


def _read(name: str, *helpers: str) -> Script:
    """The script ``lua/<name>.lua``, after the helpers of ``lua/lib.lua`` and ``helpers``."""
    parts = ["lib", *helpers, name]
    return Script(name, "".join((LUA_DIR / f"{part}.lua").read_text() for part in parts))


PUSH = _read("push")
POP = _read("pop")
RELEASE = _read("release")
RENEW = _read("renew")
HEARTBEAT = _read("heartbeat")
STORE_ITEMS = _read("store_items", "item_records")
TRIM_ITEMS = _read("trim_items", "item_records")
MIGRATE = _read("migrate")
ROBOTS = _read("robots")
ALL = (PUSH, POP, RELEASE, RENEW, HEARTBEAT, STORE_ITEMS, TRIM_ITEMS, MIGRATE, ROBOTS)


async def load(client: Any) -> None:
    """Put every script in the script cache of every node: on a Redis Cluster, masters
    and replicas (``SCRIPT LOAD`` alone goes to the masters only)."""
    if hasattr(client, "get_nodes"):
        for script in ALL:
            await client.execute_command("SCRIPT LOAD", script.text,
                                         target_nodes=client.get_nodes())
        return
    pipe = client.pipeline(transaction=False)
    for script in ALL:
        pipe.script_load(script.text)
    await pipe.execute()
