"""Which Redis the settings name, read as scrapy-redis reads them, as one URL.

``REDIS_URL`` first; else ``REDIS_HOST``/``REDIS_PORT``/``REDIS_DB`` or the ``host``,
``port``, ``db``, ``unix_socket_path`` of ``REDIS_PARAMS``. ``REDIS_PARAMS``'s
``username``, ``password``, ``db`` and ``ssl`` fill in what the URL leaves out (as
redis-py's ``from_url`` does: the URL wins). No address at all is ``None``: the embedded
Redis, never a guess at ``127.0.0.1:6379``.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from scrapy.settings import BaseSettings

from crawler.errors import ConfigError

# REDIS_PARAMS keys this engine honours; timeouts and TLS files map to REDIS_* settings.
MAPPED = frozenset({
    "host", "port", "db", "username", "password", "unix_socket_path", "ssl",
    "socket_timeout", "socket_connect_timeout", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile",
})
# Keys about the client object that make no difference to where data goes.
IGNORED = frozenset({
    "retry_on_timeout", "encoding", "encoding_errors", "decode_responses", "client_name",
    "health_check_interval", "socket_keepalive", "socket_keepalive_options",
    "max_connections", "retry", "retry_on_error",
})


def redis_params(settings: BaseSettings, where: Callable[[str], str]) -> dict[str, Any]:
    """``REDIS_PARAMS`` without the keys this engine ignores; ``ConfigError`` names a key
    it cannot honour (a client class, a connection pool...)."""
    try:
        params = settings.getdict("REDIS_PARAMS")
    except (TypeError, ValueError):
        raise ConfigError(f"{where('REDIS_PARAMS')} is not a dict of redis-py client "
                          "arguments") from None
    unknown = sorted(set(params) - MAPPED - IGNORED)
    if unknown:
        raise ConfigError(
            f"{where('REDIS_PARAMS')} has {', '.join(map(repr, unknown))}, which this engine "
            f"cannot honour; it reads {', '.join(sorted(MAPPED))} and ignores "
            f"{', '.join(sorted(IGNORED))}")
    return {key: value for key, value in params.items()
            if key in MAPPED and value not in (None, "")}


def check_encoding(settings: BaseSettings, where: Callable[[str], str]) -> None:
    """``REDIS_ENCODING`` may only name UTF-8: that is what this engine reads and writes."""
    encoding = settings.get("REDIS_ENCODING")
    if encoding in (None, ""):
        return
    try:
        name = codecs.lookup(str(encoding)).name
    except LookupError:
        name = str(encoding)
    if name != "utf-8":
        raise ConfigError(f"{where('REDIS_ENCODING')}={encoding!r}: this engine reads and "
                          "writes Redis as UTF-8 only")


def ignored_params(settings: BaseSettings) -> list[str]:
    """The ``REDIS_PARAMS`` keys that are given but make no difference here."""
    try:
        return sorted(set(settings.getdict("REDIS_PARAMS")) & IGNORED)
    except (TypeError, ValueError):
        return []


def _given(settings: BaseSettings, name: str) -> Any:
    value = settings.get(name)
    return None if value in (None, "") else value


def redis_url(settings: BaseSettings, params: dict[str, Any],
              where: Callable[[str], str]) -> str | None:
    """The URL of the Redis the settings name, ``"embedded"``, or ``None`` (no address)."""
    url = _given(settings, "REDIS_URL")
    db = _given(settings, "REDIS_DB")
    if db is None:
        db = params.get("db")
    if db is not None:
        try:
            db = int(db)
        except (TypeError, ValueError):
            source = where("REDIS_DB") if _given(settings, "REDIS_DB") is not None else (
                f"{where('REDIS_PARAMS')} db")
            raise ConfigError(f"{source}={db!r} is not a number") from None
    if url is not None:
        return str(url) if str(url) == "embedded" else _fill(str(url), params, db)
    host = _given(settings, "REDIS_HOST") or params.get("host")
    port = _given(settings, "REDIS_PORT") or params.get("port")
    socket = params.get("unix_socket_path")
    if socket is not None and host is None and port is None:
        return _fill(f"unix://{socket}", params, db)
    if host is None and port is None:
        return None
    try:
        port = int(port or 6379)
    except (TypeError, ValueError):
        raise ConfigError(f"{where('REDIS_PORT')}={port!r} is not a number") from None
    host = str(host or "localhost")
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return _fill(f"redis://{netloc}", params, db)


def _fill(url: str, params: dict[str, Any], db: int | None) -> str:
    """``url`` with the credentials, database and TLS of ``params`` where it has none."""
    parts = urlsplit(url)
    scheme, netloc, path, query = parts.scheme, parts.netloc, parts.path, parts.query
    fields = dict(parse_qsl(query))
    password = params.get("password")
    if parts.password is None and "password" not in fields and password is not None:
        user = parts.username or params.get("username") or ""
        host = netloc.rpartition("@")[2]
        netloc = f"{quote(str(user), safe='')}:{quote(str(password), safe='')}@{host}"
    if db is not None:
        if scheme == "unix":
            fields.setdefault("db", str(db))
        elif path in ("", "/"):
            path = f"/{db}"
    if params.get("ssl") is True and scheme == "redis":
        scheme = "rediss"
    query = urlencode(fields) if fields != dict(parse_qsl(parts.query)) else query
    return f"{scheme}://{netloc}{path}{'?' if query else ''}{query}"


CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")


@dataclass(frozen=True)
class Topology:
    """Where the Redis of a ``redis+cluster://`` or ``redis+sentinel://`` URL is.

    ``redis+cluster://[user:pw@]h1:p1,h2:p2/`` names start-up nodes of a Redis Cluster
    (any one is enough; the client discovers the rest). ``redis+sentinel://[user:pw@]
    s1:p1,s2:p2/SERVICE[/DB][?sentinel_password=...]`` names Sentinels and the service
    whose master they elect; the credentials are the data nodes', ``sentinel_password``
    (and ``sentinel_username``) the Sentinels' own. ``rediss+...``: TLS to the data nodes.
    """

    kind: str  # "cluster" or "sentinel"
    nodes: tuple[tuple[str, int], ...]
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    service: str = ""
    db: int = 0
    sentinel_username: str | None = field(default=None, repr=False)
    sentinel_password: str | None = field(default=None, repr=False)


def parse_topology(url: str) -> Topology | None:
    """The ``Topology`` of a cluster or Sentinel URL; ``None`` for any other URL;
    ``ConfigError`` (naming the URL with its password hidden) if it is malformed."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in CLUSTER_SCHEMES + SENTINEL_SCHEMES:
        return None
    shown = redact(url)
    netloc, _, tail = rest.partition("/")
    path, _, query = tail.partition("?")
    if "?" in netloc:
        netloc, _, query = netloc.partition("?")
    credentials, at, hosts = netloc.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = credentials.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    nodes = tuple(_node(part, shown) for part in hosts.split(",") if part.strip())
    if not nodes:
        raise ConfigError(f"REDIS_URL {shown} names no host:port")
    fields = dict(parse_qsl(query))
    tls = scheme.startswith("rediss")
    segments = [unquote(s) for s in path.split("/") if s]
    if scheme in CLUSTER_SCHEMES:
        if any(s != "0" for s in segments):
            raise ConfigError(f"REDIS_URL {shown}: a Redis Cluster has database 0 only")
        return Topology("cluster", nodes, username, password, tls)
    if not segments or len(segments) > 2:
        raise ConfigError(f"REDIS_URL {shown} must name the Sentinel service: "
                          "redis+sentinel://HOST:PORT[,HOST:PORT...]/SERVICE[/DB]")
    try:
        db = int(segments[1]) if len(segments) == 2 else int(fields.get("db", 0))
    except ValueError:
        raise ConfigError(f"REDIS_URL {shown}: the database is not a number") from None
    return Topology("sentinel", nodes, username, password, tls, segments[0], db,
                    fields.get("sentinel_username") or None,
                    fields.get("sentinel_password") or None)


def _node(part: str, shown: str) -> tuple[str, int]:
    host, colon, port = part.strip().rpartition(":")
    if not colon:
        host, port = port, ""
    host = host.strip("[]")
    try:
        return host, int(port)
    except ValueError:
        raise ConfigError(f"REDIS_URL {shown}: {part.strip()!r} is not HOST:PORT") from None


def redact(url: str) -> str:
    """The URL with its passwords (``user:pass@`` and ``?password=``, ``?sentinel_password=``)
    replaced by ``***``, hosts and ports kept, fit for logs and errors."""
    parts = urlsplit(url)
    head, mark, query = str(url).partition("?")
    if parts.password is not None:
        user, _, host = parts.netloc.rpartition("@")
        head = head.replace(parts.netloc, f"{user.partition(':')[0]}:***@{host}", 1)
    fields = [f"{name}=***" if "password" in unquote(name).lower() else f"{name}{eq}{value}"
              for name, eq, value in (field.partition("=") for field in query.split("&"))]
    return head + mark + "&".join(fields) if mark else head
