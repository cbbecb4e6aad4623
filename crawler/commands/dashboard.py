"""``scrapy dashboard [NAME] [--port PORT] [--bind ADDRESS] [--allow-host NAME ...]``: a
read-only web dashboard.

Serves, with Twisted's web server, a page that shows every crawl of the Redis in use (or
only ``NAME``): counters, an hour of pages/min and queue length, nodes, dead letters and
the latest items, refreshed every few seconds; its JSON under ``/api/``, and the same
counters for Prometheus at ``/metrics``. It binds to 127.0.0.1 unless told otherwise, and
has no login: to look at a remote host's, forward the port with SSH. It answers only
requests whose ``Host`` header names localhost, the bound address, or a name given with
``--allow-host`` (the name people reach a non-loopback bind by).
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from typing import Any

from scrapy.commands import ScrapyCommand
from scrapy.exceptions import UsageError
from scrapy.utils.reactor import install_reactor, is_reactor_installed

from crawler.commands._base import CrawlCommand

DEFAULT_PORT = 8650
ASYNCIO_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"


def is_loopback(address: str) -> bool:
    """Whether binding to ``address`` keeps the server reachable from this machine only."""
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


class Command(CrawlCommand, ScrapyCommand):
    """Serves the dashboard until Ctrl-C."""

    def syntax(self) -> str:
        return "[NAME] [--port PORT] [--bind ADDRESS] [--allow-host NAME ...]"

    def short_desc(self) -> str:
        return "Serve a read-only web dashboard and /metrics of the crawls in Redis"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                            help=f"TCP port (default: {DEFAULT_PORT}; 0: any free port)")
        parser.add_argument("--bind", default="127.0.0.1", metavar="ADDRESS",
                            help="address to listen on (default: 127.0.0.1, this machine "
                                 "only; 0.0.0.0 exposes the crawl's items to the network)")
        parser.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                            help="also answer requests whose Host header is NAME (a name or "
                                 "address of this machine; repeatable). Localhost and the "
                                 "bound address are always allowed")

    def execute(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) > 1:
            raise UsageError("name one crawl, or none to show them all")
        if not 0 <= opts.port <= 65535:
            raise UsageError(f"--port {opts.port} is not a TCP port")
        name = self.crawl_name(args) if args else None
        try:
            self.serve(name, opts)
        except KeyboardInterrupt:  # Ctrl-C before the reactor took the signal over
            pass

    def serve(self, name: str | None, opts: argparse.Namespace) -> None:
        """Listen and serve until the reactor stops (Ctrl-C, SIGTERM)."""
        config, _, client = self.open(name or "")  # no name: the keys are not used
        if not is_reactor_installed():
            install_reactor(ASYNCIO_REACTOR)
        from twisted.internet import reactor
        from twisted.internet.error import CannotListenError
        from twisted.web.server import Site

        from crawler.dashboard.data import DashboardData
        from crawler.dashboard.server import Dashboard

        loop: Any = reactor  # Twisted's reactor module is typed as an interface, not an object
        local = is_loopback(opts.bind)
        data = DashboardData(client, config, self.where, name,
                             lambda crawl: self.crawl_keys(config, crawl))
        dashboard = Dashboard(data, [opts.bind, *opts.allow_host])
        site = Site(dashboard)  # type: ignore[no-untyped-call]
        site.noisy = False
        try:
            port = loop.listenTCP(opts.port, site, interface=opts.bind)
        except CannotListenError as exc:
            self.fail(f"cannot listen on {opts.bind}:{opts.port}: {exc.socketError}")
            return
        host = f"[{opts.bind}]" if ":" in opts.bind else opts.bind
        shown = f"crawl {name!r}" if name else "all crawls"
        print(f"Dashboard of {shown} at http://{host}:{port.getHost().port}/ (read-only; "
              f"Redis at {self.where}); Ctrl-C to stop", flush=True)
        if not local:
            print(f"warning: listening on {opts.bind}: anyone who reaches this port reads "
                  "the crawls' items and nodes; there is no login (prefer an SSH tunnel). "
                  "Requests must name this address or an --allow-host name as Host",
                  file=sys.stderr, flush=True)
        loop.run()
