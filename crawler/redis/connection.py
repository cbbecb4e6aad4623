"""Redis clients from settings: one pool per process, addresses shown without passwords.

``REDIS_URL`` takes ``redis://``, ``rediss://`` (TLS) and ``unix://`` URLs. Left unset
(and no ``REDIS_HOST``/``REDIS_PORT``), the engine uses the embedded server (see
``crawler.redis.embedded``), never whatever answers on 127.0.0.1:6379; ``REDIS_URL=embedded``
names the embedded one explicitly.

A ``redis://`` or ``rediss://`` URL naming any node of a Redis Cluster gets a cluster
client: one ``INFO cluster`` at start says whether the node has ``cluster_enabled:1``.
``redis+cluster://h1:p1,h2:p2/`` names several start-up nodes, ``redis+sentinel://
s1:p1,s2:p2/SERVICE[/DB]`` the Sentinels of a master (see ``address.Topology``). The
cluster client is typed as ``redis.Redis``: it answers every command this engine sends,
since a crawl's keys share one slot; what differs, redis-py's cluster client covers (its
``scan_iter`` walks every master), and ``durability`` sends WAIT to the node that owns a key.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, cast

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.sentinel
import redis.cluster
import redis.sentinel

from crawler.errors import RedisUnavailableError
from crawler.redis import durability, embedded
from crawler.redis.address import Topology, parse_topology, redact
from crawler.redis.config import RedisConfig

logger = logging.getLogger(__name__)

__all__ = [
    "SecretURL",
    "async_client",
    "close_async_clients",
    "redact",
    "resolve_url",
    "sync_client",
    "unavailable",
]

# redis-py's sync cluster and Sentinel modules have no type hints
_SYNC_CLUSTER: Any = redis.cluster
_SYNC_SENTINEL: Any = redis.sentinel
_ASYNC_SENTINEL: Any = redis.asyncio.sentinel

_async_clients: dict[str, redis.asyncio.Redis] = {}
_announced: set[str] = set()  # embedded servers this process said it uses


_CONNECT_ERRORS = (redis.ConnectionError, redis.TimeoutError, redis.ResponseError, OSError)


def unavailable(url: str, exc: BaseException) -> RedisUnavailableError:
    """The error a user sees when Redis at ``url`` cannot be used."""
    if isinstance(exc, redis.AuthenticationError | redis.ResponseError):
        return RedisUnavailableError(f"Redis at {redact(url)} refused the login: {exc}")
    return RedisUnavailableError(f"Redis at {redact(url)} did not answer: {exc}")


@functools.lru_cache(maxsize=8)
def resolve_url(config: RedisConfig) -> str:
    """The Redis URL to use, starting the embedded server when that is what it comes to:
    no address given, ``embedded``, or the embedded server's own socket (which the add-on
    names in ``REDIS_URL`` so that scrapy-redis's components find the same Redis)."""
    url = config.url
    socket = embedded.socket_url(config.embedded_dir)
    if url is not None and url not in ("embedded", socket):
        return url
    url = embedded.ensure_running(config.embedded_dir)
    if url in _announced:
        return url
    _announced.add(url)
    if config.url == "embedded":
        logger.info("Using the embedded Redis at %s (REDIS_URL=embedded)", url)
    else:
        logger.info("Using the embedded Redis at %s: REDIS_URL is not set (set it to use "
                    "another Redis)", url)
    return url


class SecretURL(str):
    """A Redis URL whose ``repr`` hides the password: Scrapy logs settings with ``repr``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(redact(str(self)))


def _client_options(config: RedisConfig, url: str) -> dict[str, Any]:
    options: dict[str, Any] = {
        "socket_connect_timeout": config.connect_timeout,
        "socket_timeout": config.socket_timeout,
        "health_check_interval": 30,
    }
    if url.startswith("rediss"):
        options.update(ssl_ca_certs=config.ssl_ca_certs, ssl_certfile=config.ssl_certfile,
                       ssl_keyfile=config.ssl_keyfile)
    return options


def _cluster_options(config: RedisConfig, url: str, topology: Topology | None) -> dict[str, Any]:
    """Options of a cluster client: ``reinitialize_steps=0`` patches the slot map from each
    MOVED instead of closing every connection each 5th one (which made redis-py send
    scripts that had run a second time, docs/redis-cluster-research.md section 5)."""
    options = _client_options(config, url)
    options.pop("health_check_interval")
    options["reinitialize_steps"] = 0
    if topology is not None:
        options.update(username=topology.username, password=topology.password,
                       ssl=topology.tls)
    return options


def _cluster_enabled(info: dict[str, Any]) -> bool:
    """Whether ``INFO cluster`` says the server runs with ``cluster-enabled yes``."""
    return str(info.get("cluster_enabled", 0)) == "1"


def _sentinel_options(config: RedisConfig, url: str, topology: Topology) -> tuple[
        dict[str, Any], dict[str, Any]]:
    """The options of the data nodes' connections, and of the Sentinels' own."""
    data = {**_client_options(config, url), "db": topology.db, "username": topology.username,
            "password": topology.password}
    if topology.tls:
        data["ssl"] = True
    sentinels = {"socket_connect_timeout": config.connect_timeout,
                 "socket_timeout": config.socket_timeout,
                 "username": topology.sentinel_username,
                 "password": topology.sentinel_password}
    return data, sentinels


def _sync_for(config: RedisConfig, url: str) -> tuple[Any, str]:
    """A blocking client for ``url`` and its kind (``single``, ``cluster``, ``sentinel``)."""
    topology = parse_topology(url)
    if topology is None:
        client = redis.Redis.from_url(url, **_client_options(config, url))
        if url.startswith("unix://") or not _cluster_enabled(client.info("cluster")):
            return client, "single"
        client.close()
        return redis.cluster.RedisCluster.from_url(
            url, **_cluster_options(config, url, None)), "cluster"
    if topology.kind == "cluster":
        nodes = [_SYNC_CLUSTER.ClusterNode(host, port) for host, port in topology.nodes]
        return redis.cluster.RedisCluster(
            startup_nodes=nodes, **_cluster_options(config, url, topology)), "cluster"
    data, sentinels = _sentinel_options(config, url, topology)
    sentinel = _SYNC_SENTINEL.Sentinel(list(topology.nodes), sentinel_kwargs=sentinels)
    return sentinel.master_for(topology.service, **data), "sentinel"


def sync_client(config: RedisConfig, url: str | None = None) -> redis.Redis:
    """A blocking client for commands; raises ``RedisUnavailableError`` if Redis does not
    answer (a cluster, or a Sentinel that names no master, included)."""
    url = url or resolve_url(config)
    try:
        client, kind = _sync_for(config, url)
        client.ping()
        replicas = durability.replicas_seen(client, kind)
    except (*_CONNECT_ERRORS, redis.exceptions.RedisClusterException) as exc:
        raise unavailable(url, exc) from exc
    durability.attach(client, durability.Durability.configure(
        config, kind, replicas, redact(url)))
    embedded.release_at_exit(url)
    return cast(redis.Redis, client)


async def _async_for(config: RedisConfig, url: str) -> tuple[Any, str]:
    """An asyncio client for ``url``, ready for concurrent use, and its kind."""
    topology = parse_topology(url)
    if topology is None:
        client = redis.asyncio.Redis.from_url(url, **_client_options(config, url))
        if url.startswith("unix://"):
            return client, "single"
        if not _cluster_enabled(await client.info("cluster")):
            return client, "single"
        await client.aclose()
        cluster = redis.asyncio.cluster.RedisCluster.from_url(
            url, **_cluster_options(config, url, None))
    elif topology.kind == "cluster":
        nodes = [redis.asyncio.cluster.ClusterNode(host, port) for host, port in topology.nodes]
        cluster = redis.asyncio.cluster.RedisCluster(
            startup_nodes=nodes, **_cluster_options(config, url, topology))
    else:
        data, sentinels = _sentinel_options(config, url, topology)
        sentinel = _ASYNC_SENTINEL.Sentinel(list(topology.nodes),
                                                   sentinel_kwargs=sentinels)
        return sentinel.master_for(topology.service, **data), "sentinel"
    # Concurrent commands on a cluster client never initialised fail now and then (redis-py
    # #3935): initialise it before anyone uses it.
    await cluster.initialize()
    return cluster, "cluster"


async def close_async_clients() -> None:
    """Close the process's asyncio clients (the scheduler does, last, when a node stops)."""
    while _async_clients:
        _, client = _async_clients.popitem()
        await client.aclose()
        manager = getattr(getattr(client, "connection_pool", None), "sentinel_manager", None)
        for sentinel in getattr(manager, "sentinels", ()):  # the Sentinels' own connections
            await sentinel.aclose()


async def async_client(config: RedisConfig, url: str) -> redis.asyncio.Redis:
    """The process's shared asyncio client for ``url``; raises ``RedisUnavailableError``."""
    client = _async_clients.get(url)
    if client is None:
        made: Any = None
        try:
            made, kind = await _async_for(config, url)
            await made.ping()
            replicas = await durability.replicas_seen_async(made, kind)
        except (*_CONNECT_ERRORS, redis.exceptions.RedisClusterException) as exc:
            if made is not None:
                await made.aclose()
            raise unavailable(url, exc) from exc
        durability.attach(made, durability.Durability.configure(
            config, kind, replicas, redact(url)))
        client = cast(redis.asyncio.Redis, made)
        _async_clients[url] = client
        embedded.release_at_exit(url)
    return client
