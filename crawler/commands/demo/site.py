"""A generated local web site, for the demo and the tests (Twisted, keep-alive).

``python -m crawler.commands.demo.site --pages N [--seed S]`` prints its port on
the first line of stdout. Page ``i`` lives at ``/page?id=i&lang=en``; its links come
in forms a crawler must recognise as the same page: parameters in another order, a
``#fragment``, the same link twice. Every page is reachable from page 0 (pages 2i+1
and 2i+2 are always linked), plus a few pseudo-random links a page. ``/_hits`` answers
how often each page was served, as JSON, so a test can count duplicate downloads;
``/_log`` when each page request arrived and how many were answered at once at most, so
a test can check a crawl's politeness. ``--delay`` makes every page (and a robots.txt)
slow to answer and ``--crawl-delay`` puts a ``Crawl-delay`` in ``/robots.txt``.

For the hostile-input tests: ``/hostile`` links to every kind of bad URL, ``/binary``
answers random bytes, ``/huge?size=N`` an N-byte page (``&chunked=1``: without a
length, ``&gzip=1``: gzipped), ``/loop?n=K`` redirects to ``/loop?n=K+1`` forever
(``&mod=M``: modulo M, a cycle), ``/echo`` a page titled by its host; ``--robots
garbage`` serves a binary robots.txt, ``--fail-all`` answers 503 to everything.
``/_paths`` counts the requests answered with anything but a page. Request lines of up
to 64 kB are read (20 kB URLs).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import time
from collections import Counter
from typing import Any
from urllib.parse import parse_qs

from twisted.web.http import HTTPChannel
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request, Site

GARBAGE_ROBOTS = (b"\x89PNG\r\n\x1a\n\x00\xff\xfe<html>User-agent: *\nDisallow: \xc3\x28\n"
                  b"Crawl-delay: nan\nRequest-rate: 1/0\nCrawl-delay: -1e999\n" * 50
                  + b"User-agent: *\nCrawl-delay: 1e300\n")
LONG_PAD = 20_000  # characters of padding in the long URL /hostile links to


def hostile_links() -> list[str]:
    """The links of ``/hostile``: odd schemes, a 20 kB URL, and the routes that answer
    badly (binary, oversized, endless redirects); none leads to a page."""
    return ["javascript:alert(1)", "mailto:someone@example.com", "data:text/html,<b>x</b>",
            "ftp://127.0.0.1:1/file.txt", "/long?pad=" + "x" * LONG_PAD, "/binary",
            "/huge?size=300000", "/huge?size=300000&chunked=1", "/huge?size=3000000&gzip=1",
            "/loop?n=0", "/loop?n=0&mod=2"]


def page_url(i: int, variant: int = 0) -> str:
    """The path of page ``i`` in one of its spellings."""
    return ("/page?id={i}&lang=en", "/page?lang=en&id={i}", "/page?id={i}&lang=en#top")[
        variant % 3].format(i=i)


def page_links(i: int, pages: int, seed: int) -> list[int]:
    """The pages that page ``i`` links to (with repeats)."""
    rng = random.Random(seed * 1_000_003 + i)
    linked = [j for j in (2 * i + 1, 2 * i + 2) if j < pages]
    linked += [rng.randrange(pages) for _ in range(6)]
    return linked + linked[:2]


def render(i: int, pages: int, seed: int) -> bytes:
    """The HTML of page ``i``."""
    links = " ".join(f'<a href="{page_url(j, n)}">page {j}</a>'
                     for n, j in enumerate(page_links(i, pages, seed)))
    return (f"<html><head><title>Page {i}</title></head><body><h1>Page {i}</h1>"
            f"<p>Text of page {i}.</p>{links}</body></html>").encode()


class Pages(Resource):
    """Serves page ``i`` at ``/page?id=i``, ``delay`` seconds late; anything else is a 404."""

    isLeaf = True  # noqa: N815 (Twisted's name)

    def __init__(self, pages: int, seed: int, delay: float = 0.0,
                 crawl_delay: float | None = None, robots: str = "",
                 fail_all: bool = False) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.pages, self.seed, self.delay, self.crawl_delay = pages, seed, delay, crawl_delay
        self.robots, self.fail_all = robots, fail_all
        self.hits: Counter[int] = Counter()
        self.paths: Counter[str] = Counter()  # requests for anything but a page
        self.arrivals: list[float] = []  # time.time() of each page request
        self.answering = 0
        self.most_at_once = 0

    def render_GET(self, request: Request) -> bytes | int:  # noqa: N802 (Twisted's name)
        if request.path in (b"/_hits", b"/_log", b"/_paths"):
            request.setHeader(b"content-type", b"application/json")  # type: ignore[no-untyped-call]
            if request.path == b"/_log":
                return json.dumps({"arrivals": self.arrivals,
                                   "most_at_once": self.most_at_once}).encode()
            return json.dumps(self.paths if request.path == b"/_paths" else self.hits).encode()
        if self.fail_all or request.path != b"/page":
            self.paths[request.uri.decode("latin-1")] += 1
        if self.fail_all:
            request.setResponseCode(503)
            return b"down for maintenance"
        if request.path == b"/robots.txt" and self.robots == "garbage":
            return GARBAGE_ROBOTS
        if request.path in HOSTILE:
            return HOSTILE[request.path](request)
        if request.path == b"/robots.txt" and self.crawl_delay is not None:
            return self._later(request, f"User-agent: *\nCrawl-delay: {self.crawl_delay}\n"
                               .encode(), page=False)
        if request.path != b"/page":
            request.setResponseCode(404)
            return b"not found"
        query = parse_qs(request.uri.split(b"?", 1)[1].decode()) if b"?" in request.uri else {}
        try:
            i = int(query["id"][0])
        except (KeyError, ValueError):
            request.setResponseCode(400)
            return b"bad id"
        if not 0 <= i < self.pages:
            request.setResponseCode(404)
            return b"no such page"
        self.hits[i] += 1
        self.arrivals.append(time.time())
        request.setHeader(  # type: ignore[no-untyped-call]
            b"content-type", b"text/html; charset=utf-8")
        return self._later(request, render(i, self.pages, self.seed), page=True)

    def _later(self, request: Request, body: bytes, page: bool) -> bytes | int:
        """``body`` now, or ``delay`` seconds late (a page counts as answering meanwhile)."""
        if not self.delay:
            return body
        if page:
            self.answering += 1
            self.most_at_once = max(self.most_at_once, self.answering)
        from twisted.internet import reactor

        loop: Any = reactor
        call = loop.callLater(self.delay, self._answer, request, body, page)
        request.notifyFinish().addErrback(lambda _: self._gone(call, page))
        return NOT_DONE_YET

    def _answer(self, request: Request, body: bytes, page: bool) -> None:
        self.answering -= page
        request.write(body)  # type: ignore[no-untyped-call]
        request.finish()  # type: ignore[no-untyped-call]

    def _gone(self, call: Any, page: bool) -> None:
        """The client left before its slow answer: answer nobody."""
        if call.active():
            call.cancel()
            self.answering -= page


def _hostile(request: Request) -> bytes:
    links = " ".join(f'<a href="{url}">bad {n}</a>' for n, url in enumerate(hostile_links()))
    return f"<html><head><title>Hostile</title></head><body>{links}</body></html>".encode()


def _binary(request: Request) -> bytes:
    request.setHeader(b"content-type", b"application/octet-stream")  # type: ignore[no-untyped-call]
    return random.Random(7).randbytes(65536)


def _huge(request: Request) -> bytes | int:
    size = int(request.args[b"size"][0])
    body = b"<html><head><title>Huge</title></head><body>" + b"x" * size
    if b"gzip" in request.args:  # a small download that inflates to ``size`` bytes
        request.setHeader(b"content-encoding", b"gzip")  # type: ignore[no-untyped-call]
        return gzip.compress(body)
    if b"chunked" not in request.args:
        return body
    for start in range(0, len(body), 65536):
        request.write(body[start:start + 65536])  # type: ignore[no-untyped-call]
    request.finish()  # type: ignore[no-untyped-call]
    return NOT_DONE_YET


def _loop(request: Request) -> bytes:
    n, mod = int(request.args[b"n"][0]), request.args.get(b"mod", [b""])[0].decode()
    following = f"n={(n + 1) % int(mod)}&mod={mod}" if mod else f"n={n + 1}"
    request.redirect(f"/loop?{following}".encode())  # type: ignore[no-untyped-call]
    return b""


def _echo(request: Request) -> bytes:
    host = request.getRequestHostname().decode("latin-1")  # type: ignore[no-untyped-call]
    return f"<html><head><title>Echo {host}</title></head><body>{host}</body></html>".encode()


HOSTILE = {b"/hostile": _hostile, b"/binary": _binary, b"/huge": _huge, b"/loop": _loop,
           b"/echo": _echo, b"/long": _echo}


def main() -> None:
    """Serve the site on a free port of ``--host`` until killed; print the port first."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to answer a page")
    parser.add_argument("--crawl-delay", type=float, help="Crawl-delay of /robots.txt")
    parser.add_argument("--robots", choices=["garbage"], default="", help="robots.txt kind")
    parser.add_argument("--fail-all", action="store_true", help="answer 503 to everything")
    args = parser.parse_args()
    HTTPChannel.totalHeadersSize = HTTPChannel.MAX_LENGTH = 65536  # 20 kB URLs (this process)
    pages = Pages(args.pages, args.seed, args.delay, args.crawl_delay, args.robots,
                  args.fail_all)
    site = Site(pages)  # type: ignore[no-untyped-call]
    site.noisy = False
    from twisted.internet import reactor

    loop: Any = reactor  # Twisted's reactor module is typed as an interface, not an object
    port = loop.listenTCP(0, site, interface=args.host)
    print(port.getHost().port, flush=True)
    loop.run()


if __name__ == "__main__":
    main()
