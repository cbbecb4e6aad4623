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

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from crawler.redis import durability

LUA_DIR = Path(__file__).with_name("lua")


@dataclass(frozen=True)
class Script:
    """One Lua script: its text and SHA1."""

    name: str
    text: str

    @property
    def sha(self) -> str:
        """The SHA1 that ``EVALSHA`` names the script by."""
        return hashlib.sha1(self.text.encode()).hexdigest()

    def queue(self, pipe: Any, keys: list[str], args: list[Any]) -> None:
        """Queue a call of this script on ``pipe`` (a pipeline, or a cluster pipeline)."""
        pipe.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)

    async def run(self, client: Any, keys: list[str], args: list[Any]) -> Any:
        """Run the script alone on an asyncio client, loading it if the server lost it;
        it counts as done once the replicas ``REDIS_WAIT_REPLICAS`` asks for have it
        (else ``NotDurableError``: run it again)."""
        wait = durability.of(client)
        await wait.prepare(client, keys[0])
        pipe = client.pipeline(transaction=False)
        self.queue(pipe, keys, args)
        waited = wait.queue_wait(pipe, client, keys[0])
        replies = await pipe.execute(raise_on_error=False)
        if isinstance(replies[0], redis.exceptions.NoScriptError):
            await load(client)  # it did not run: load the scripts and send it again
            pipe = client.pipeline(transaction=False)
            self.queue(pipe, keys, args)
            waited = wait.queue_wait(pipe, client, keys[0])
            replies = await pipe.execute(raise_on_error=False)
        if isinstance(replies[0], Exception):
            raise replies[0]
        if waited:
            await wait.confirm(client, keys[0], replies[1])
        return replies[0]


def _read(name: str) -> Script:
    """The script ``lua/<name>.lua``, after the helpers of ``lua/lib.lua``."""
    return Script(name, (LUA_DIR / "lib.lua").read_text() + (LUA_DIR / f"{name}.lua").read_text())


PUSH = _read("push")
POP = _read("pop")
RELEASE = _read("release")
RENEW = _read("renew")
HEARTBEAT = _read("heartbeat")
STORE_ITEMS = _read("store_items")
MIGRATE = _read("migrate")
ROBOTS = _read("robots")
ALL = (PUSH, POP, RELEASE, RENEW, HEARTBEAT, STORE_ITEMS, MIGRATE, ROBOTS)


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
