"""Redis clients from settings: one pool per process, addresses shown without passwords.

``REDIS_URL`` takes ``redis://``, ``rediss://`` (TLS) and ``unix://`` URLs. Left unset
(and no ``REDIS_HOST``/``REDIS_PORT``), the engine uses the embedded server (see
``crawler.redis.embedded``), never whatever answers on 127.0.0.1:6379; ``REDIS_URL=embedded``
names the embedded one explicitly.
"""

from __future__ import annotations

import functools
import logging
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
import redis.asyncio

from crawler.errors import RedisUnavailableError
from crawler.redis import embedded
from crawler.redis.config import RedisConfig

logger = logging.getLogger(__name__)

_async_clients: dict[str, redis.asyncio.Redis] = {}
_announced: set[str] = set()  # embedded servers this process said it uses


def redact(url: str) -> str:
    """The URL with its passwords (``user:pass@`` and ``?password=``) replaced by ``***``,
    host and port kept, fit for logs and errors."""
    parts = urlsplit(url)
    head, mark, query = str(url).partition("?")
    if parts.password is not None:
        user, _, host = parts.netloc.rpartition("@")
        head = head.replace(parts.netloc, f"{user.partition(':')[0]}:***@{host}", 1)
    fields = [f"{name}=***" if unquote(name).lower() == "password" else f"{name}{eq}{value}"
              for name, eq, value in (field.partition("=") for field in query.split("&"))]
    return head + mark + "&".join(fields) if mark else head


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
    if url.startswith("rediss://"):
        options.update(ssl_ca_certs=config.ssl_ca_certs, ssl_certfile=config.ssl_certfile,
                       ssl_keyfile=config.ssl_keyfile)
    return options


def sync_client(config: RedisConfig, url: str | None = None) -> redis.Redis:
    """A blocking client for commands; raises ``RedisUnavailableError`` if Redis does not answer."""
    url = url or resolve_url(config)
    client = redis.Redis.from_url(url, **_client_options(config, url))
    try:
        client.ping()
    except _CONNECT_ERRORS as exc:
        raise unavailable(url, exc) from exc
    embedded.release_at_exit(url)
    return client


async def close_async_clients() -> None:
    """Close the process's asyncio clients (the scheduler does, last, when a node stops)."""
    while _async_clients:
        _, client = _async_clients.popitem()
        await client.aclose()


async def async_client(config: RedisConfig, url: str) -> redis.asyncio.Redis:
    """The process's shared asyncio client for ``url``; raises ``RedisUnavailableError``."""
    client = _async_clients.get(url)
    if client is None:
        client = redis.asyncio.Redis.from_url(url, **_client_options(config, url))
        try:
            await client.ping()
        except _CONNECT_ERRORS as exc:
            await client.aclose()
            raise unavailable(url, exc) from exc
        _async_clients[url] = client
        embedded.release_at_exit(url)
    return client
