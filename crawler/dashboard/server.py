"""The dashboard's web app: one static page, the JSON it reads, and ``/metrics``.

Routes, ``GET`` and ``HEAD`` only (nothing here writes to Redis):

- ``/``: the page (``static/index.html``, with ``dashboard.js`` and ``dashboard.css``)
- ``/api/crawls``: ``{"redis", "crawls": [status, ...]}``, each as ``scrapy status --json``
- ``/api/crawls/<name>``: one crawl's status, chart, dead letters and latest items
- ``/metrics``: the same counters in Prometheus's text format

Redis is read with a blocking client in Twisted's thread pool, never on the reactor
thread. The server answers only requests whose ``Host`` is a loopback name, the address it
is bound to or a name given with ``--allow-host``, so a web site open in the same browser
cannot read it by DNS rebinding.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any

import redis
from twisted.internet.threads import deferToThread
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from crawler.dashboard import metrics
from crawler.dashboard.data import DashboardData

logger = logging.getLogger(__name__)

STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/dashboard.js": ("dashboard.js", "text/javascript; charset=utf-8"),
    "/dashboard.css": ("dashboard.css", "text/css; charset=utf-8"),
}
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "connect-src 'self'; img-src 'self'; base-uri 'none'; "
                               "form-action 'none'; frame-ancestors 'none'",
}


def host_name(host: str) -> str:
    """The name a ``Host`` header gives, lower-case, without port and brackets."""
    name = host.strip().lower()
    if name.startswith("["):
        return name[1:].split("]", 1)[0]
    return name.split(":", 1)[0] if name.count(":") == 1 else name


def loopback_host(host: str) -> bool:
    """Whether a ``Host`` header names this machine's loopback (port and brackets allowed)."""
    name = host_name(host)
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class Dashboard(Resource):
    """Routes every request (see the module's docstring); answers in the reactor thread
    and reads Redis in the thread pool."""

    isLeaf = True  # noqa: N815 (Twisted's name)

    def __init__(self, data: DashboardData, allowed_hosts: Iterable[str] = ()) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.data = data
        self.allowed_hosts = {host_name(name) for name in allowed_hosts}
        folder = resources.files(__package__) / "static"
        self.static = {path: ((folder / name).read_bytes(), kind)
                       for path, (name, kind) in STATIC.items()}

    def render(self, request: Request) -> bytes | int:
        """``GET`` and ``HEAD`` (the same, without the body); 405 for any other method."""
        if request.method in (b"GET", b"HEAD"):
            return self.render_GET(request)
        request.setHeader(b"Allow", b"GET, HEAD")  # type: ignore[no-untyped-call]
        return self._reply(request, 405, "text/plain; charset=utf-8", b"read-only\n")

    def render_GET(self, request: Request) -> bytes | int:  # noqa: N802 (Twisted's name)
        path = request.path.decode("utf-8", "replace")
        host = (request.getHeader(b"host") or b"").decode("latin-1")
        if not (loopback_host(host) or host_name(host) in self.allowed_hosts):
            return self._reply(request, 403, "text/plain; charset=utf-8",
                               b"this dashboard answers only to localhost, its address and "
                               b"the names given with --allow-host\n")
        if path in self.static:
            body, kind = self.static[path]
            return self._reply(request, 200, kind, body)
        if path == "/metrics":
            return self._later(request, self.data.metrics, metrics.CONTENT_TYPE)
        if path == "/api/crawls":
            return self._later(request, self.data.overview)
        segments = request.postpath or []
        if path.startswith("/api/crawls/") and len(segments) == 3:
            name = segments[2].decode("utf-8", "replace")
            return self._later(request, lambda: self.data.detail(name))
        return self._reply(request, 404, "text/plain; charset=utf-8", b"not found\n")

    def _reply(self, request: Request, code: int, kind: str, body: bytes) -> bytes:
        request.setResponseCode(code)
        for name, value in {**HEADERS, "Content-Type": kind,
                            "Cache-Control": "no-store"}.items():
            request.setHeader(name.encode(), value.encode())  # type: ignore[no-untyped-call]
        return body

    def _send(self, request: Request, code: int, kind: str, body: bytes) -> None:
        request.write(self._reply(request, code, kind, body))  # type: ignore[no-untyped-call]
        request.finish()  # type: ignore[no-untyped-call]

    def _later(self, request: Request, read: Callable[[], Any],
               kind: str = "application/json") -> int:
        """Answer with what ``read`` returns, called in a thread: JSON unless it is text,
        404 for ``None``, 503 when Redis does not answer."""
        gone: list[bool] = []
        request.notifyFinish().addErrback(lambda _: gone.append(True))

        def done(result: Any) -> None:
            if gone:
                return
            if result is None:
                body, code = {"error": "no such crawl"}, 404
            else:
                body, code = result, 200
            encoded = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            kind_now = kind if isinstance(body, str) else "application/json"
            self._send(request, code, kind_now, encoded)

        def failed(failure: Failure) -> None:
            if gone:
                return
            error = failure.value
            if isinstance(error, redis.ConnectionError | redis.TimeoutError):
                message, code = f"Redis at {self.data.where} did not answer", 503
            else:
                logger.error("Dashboard request %s failed: %s", request.path,
                             failure.getTraceback())
                message, code = f"{type(error).__name__}: {error}", 500
            self._send(request, code, "application/json", json.dumps({"error": message}).encode())

        deferToThread(read).addCallbacks(done, failed)
        return NOT_DONE_YET
