"""Waiting for replicas before a write counts as saved (``REDIS_WAIT_REPLICAS``).

Redis replicates asynchronously: a master that dies (or that Sentinel demotes while it
still takes writes) can take acknowledged writes with it. With all of a crawl's keys on
one master, a promoted replica holds a prefix of the master's writes, and the frontier's
own state stays consistent on that prefix (a lost ack re-fetches its request). What can
be lost is a write whose success someone outside that master acted on: ``scrapy seed``
telling the user the seeds are stored, a node forgetting the requests it pushed or the
items it stored, a seed mover removing seeds it copied. Those writes are followed, on
the same connection and in the same pipeline, by ``WAIT n timeout``; a reply below ``n``
means "not durable": the caller keeps the data and sends it again (every script is safe
to run twice).

A crawl of several partitions spreads over several masters: a pipeline that writes to
some of them WAITs on each (``crawler.frontier.scripts.execute``), and its writes count
as saved only if every one of those masters' replies is enough. The verdicts below are
each master's own.

A master with fewer connected replicas than ``n`` (the one left after a failover with
one replica) would stall every write. A short ``WAIT`` never lets the write it covers
count as saved (that write may have gone to a demoted master that still takes writes, as
a Sentinel's old master does for about 10 s after ``SENTINEL FAILOVER``); it goes again.
But when the master that serves the key now (asked afresh: under Sentinel after dropping
every pooled connection, with the Sentinels naming it and no failover under way) is a
master with fewer replicas than ``n``, the writes that follow, for ``DEGRADED_SECONDS``
at a time, are not waited for (degraded, logged), unless ``REDIS_WAIT_STRICT`` says no
write counts as saved until the master has its replicas again (nodes hold their work and
send it again, ``scrapy seed`` fails). Full protection through a failover needs 2
replicas per master.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

from crawler.errors import CrawlerError
from crawler.redis.config import RedisConfig

logger = logging.getLogger(__name__)

DEGRADED_SECONDS = 1.0  # how long a "no replica to wait for" verdict holds


class NotDurableError(CrawlerError, redis.RedisError):
    """A write reached the master but not the replicas ``REDIS_WAIT_REPLICAS`` asks for;
    the caller keeps what it wrote and sends it again (a Redis error, retried as one)."""


@dataclass
class Durability:
    """How a client's writes are made durable: ``replicas`` to WAIT for (0: none)."""

    replicas: int = 0
    timeout_ms: int = 500
    kind: str = "single"  # "single", "cluster" or "sentinel"
    where: str = ""  # the Redis address, password hidden
    strict: bool = False  # never degraded: a short WAIT always means "not saved"
    _degraded_until: dict[str, float] = field(default_factory=dict)

    @classmethod
    def configure(cls, config: RedisConfig, kind: str, replicas_seen: int,
                  where: str) -> Durability:
        """``REDIS_WAIT_REPLICAS``, or by default 1 on a Cluster or Sentinel whose masters
        have replicas and 0 on a single Redis."""
        wanted = config.wait_replicas
        if wanted is None:
            wanted = 1 if kind != "single" and replicas_seen > 0 else 0
        return cls(wanted, config.wait_timeout_ms, kind, where, strict=config.wait_strict)

    def queue_wait(self, pipe: Any, client: Any, key: str) -> bool:
        """Queue ``WAIT`` on ``pipe`` after the writes queued on it for ``key``'s node;
        whether it did (nothing to wait for, or a degraded verdict that still holds)."""
        if not self.replicas or self._degraded(_node_name(client, key)):
            return False
        pipe.execute_command("WAIT", self.replicas, self.timeout_ms, **_target(client, key))
        return True

    async def confirm(self, client: Any, key: str, reply: Any) -> None:
        """Accept a ``WAIT`` reply for ``key``'s node, or raise ``NotDurableError`` (after
        seeing whether the writes that follow may go degraded)."""
        if isinstance(reply, Exception):
            raise reply
        if int(reply) >= self.replicas:
            return
        if not self.strict and await _may_degrade(client, key, self.replicas, self.kind):
            self._degrade(_node_name(client, key), int(reply))
        raise NotDurableError(self._short(reply) + "; it goes again")

    def confirm_sync(self, client: Any, key: str, reply: Any) -> None:
        """``confirm`` for a blocking client."""
        if isinstance(reply, Exception):
            raise reply
        if int(reply) >= self.replicas:
            return
        if not self.strict and _may_degrade_sync(client, key, self.replicas, self.kind):
            self._degrade(_node_name(client, key), int(reply))
        raise NotDurableError(self._short(reply))

    def _short(self, reply: Any) -> str:
        """What a short ``WAIT`` reply means, for the user."""
        said = (f"Redis at {self.where}: a write reached {reply} of the {self.replicas} "
                f"replicas REDIS_WAIT_REPLICAS asks for within {self.timeout_ms} ms")
        if self.strict:
            said += " (REDIS_WAIT_STRICT: nothing counts as saved until the master has them)"
        return said

    async def prepare(self, client: Any, key: str) -> None:
        """Before writes for ``key``: renew a degraded verdict that is about to lapse while
        the master still lacks replicas (one ``INFO`` instead of a ``WAIT`` that would time
        out and send the writes again), or drop it once the replicas are back."""
        node = _node_name(client, key)
        until = self._degraded_until.get(node)
        if until is None or until - time.monotonic() > DEGRADED_SECONDS / 2:
            return
        if await _may_degrade(client, key, self.replicas, self.kind, reconnect=False):
            self._degraded_until[node] = time.monotonic() + DEGRADED_SECONDS
        elif self._degraded_until.pop(node, None) is not None:  # (two callers may check)
            logger.info("Redis at %s (%s): writes wait for %d replicas again", self.where,
                        node or "master", self.replicas)

    def _degraded(self, node: str) -> bool:
        return self._degraded_until.get(node, 0.0) > time.monotonic()

    def _degrade(self, node: str, reached: int) -> None:
        if node not in self._degraded_until:
            logger.warning("Redis at %s (%s) has fewer replicas than REDIS_WAIT_REPLICAS=%d "
                           "(a write reached %d): writes there are not waited for until it "
                           "has them again; a failover now could lose them", self.where,
                           node or "master", self.replicas, reached)
        self._degraded_until[node] = time.monotonic() + DEGRADED_SECONDS


_durability: weakref.WeakKeyDictionary[Any, Durability] = weakref.WeakKeyDictionary()


def attach(client: Any, durability: Durability) -> None:
    """Remember how ``client``'s writes are made durable (the factory does)."""
    _durability[client] = durability


def of(client: Any) -> Durability:
    """How ``client``'s writes are made durable (nothing to wait for if it was not made by
    ``crawler.redis.connection``)."""
    return _durability.get(client) or Durability()


def is_cluster(client: Any) -> bool:
    return hasattr(client, "get_node_from_key")


def one_key_a_master(client: Any, keys: Sequence[str]) -> list[str]:
    """One of ``keys`` for each master that holds some of them, in their order (on a
    single Redis or Sentinel, one master holds them all)."""
    if not is_cluster(client):
        return list(keys[:1])
    masters: dict[str, str] = {}
    for key in keys:
        masters.setdefault(_node_name(client, key), key)
    return list(masters.values())


def _node_name(client: Any, key: str) -> str:
    return str(client.get_node_from_key(key).name) if is_cluster(client) else ""


def _target(client: Any, key: str) -> dict[str, Any]:
    """``target_nodes=`` the master of ``key``'s slot, on a cluster client."""
    return {"target_nodes": client.get_node_from_key(key)} if is_cluster(client) else {}


def _one(reply: Any) -> dict[str, Any]:
    """A node's ``INFO`` reply (a cluster client may key it by node name)."""
    if isinstance(reply, dict) and reply and all(isinstance(v, dict) for v in reply.values()):
        return dict(next(iter(reply.values())))
    return dict(reply)


def _lone_master(info: dict[str, Any], replicas: int) -> bool:
    return info.get("role") == "master" and int(info.get("connected_slaves", 0)) < replicas


def replicas_seen(client: Any, kind: str) -> int:
    """How many replicas the topology has (a cluster's, a Sentinel master's, down or up)."""
    if kind == "cluster":
        return len(client.get_replicas())
    if kind == "sentinel":  # every replica a Sentinel knows, down ones included
        pool = client.connection_pool
        for sentinel in pool.sentinel_manager.sentinels:
            try:
                return len(sentinel.sentinel_slaves(pool.service_name))
            except (redis.ConnectionError, redis.TimeoutError):
                continue
    return 0


async def replicas_seen_async(client: Any, kind: str) -> int:
    """``replicas_seen`` for an asyncio client."""
    if kind == "cluster":
        return len(client.get_replicas())
    if kind == "sentinel":
        pool = client.connection_pool
        for sentinel in pool.sentinel_manager.sentinels:
            try:
                return len(await sentinel.sentinel_slaves(pool.service_name))
            except (redis.ConnectionError, redis.TimeoutError):
                continue
    return 0


async def _may_degrade(client: Any, key: str, replicas: int, kind: str,
                       reconnect: bool = True) -> bool:
    """Whether the writes that follow may go without waiting: the node that serves ``key``
    now is a master with fewer replicas connected than asked, and no Sentinel is failing
    it over. ``reconnect`` (after a short WAIT): under Sentinel, drop every connection
    first; without it, a Sentinel naming another master says no."""
    if kind == "sentinel":
        pool = client.connection_pool
        if reconnect:
            # Every connection goes, in use or not: each new one asks the Sentinels where
            # the master is, so no later write reaches a demoted master.
            await pool.disconnect(inuse_connections=True)
            await pool.get_master_address()
        elif await pool.sentinel_manager.discover_master(pool.service_name) != \
                pool.master_address:
            return False
        for sentinel in pool.sentinel_manager.sentinels:
            try:
                state = await sentinel.sentinel_master(pool.service_name)
            except (redis.ConnectionError, redis.TimeoutError):
                continue  # a Sentinel that is down says nothing
            if "failover" in str(state.get("flags", "")) or state.get("is_odown"):
                return False
    info = _one(await client.execute_command("INFO", "replication", **_target(client, key)))
    return _lone_master(info, replicas)


def _may_degrade_sync(client: Any, key: str, replicas: int, kind: str) -> bool:
    """``_may_degrade`` for a blocking client."""
    if kind == "sentinel":
        pool = client.connection_pool
        pool.disconnect(inuse_connections=True)
        pool.get_master_address()
        for sentinel in pool.sentinel_manager.sentinels:
            try:
                state = sentinel.sentinel_master(pool.service_name)
            except (redis.ConnectionError, redis.TimeoutError):
                continue
            if "failover" in str(state.get("flags", "")) or state.get("is_odown"):
                return False
    info = _one(client.execute_command("INFO", "replication", **_target(client, key)))
    return _lone_master(info, replicas)
