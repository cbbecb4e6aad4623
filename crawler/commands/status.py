"""``scrapy status NAME [--json] [--watch]``: the state of a crawl across the cluster.

``--watch`` refreshes it every ``--interval`` seconds until Ctrl-C: in place on a
terminal that understands cursor moves, one block per refresh on a dumb terminal or a
pipe, one JSON object a line with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from typing import Any

import redis
from scrapy.commands import ScrapyCommand
from scrapy.exceptions import UsageError

from crawler.commands._base import CrawlCommand
from crawler.node.config import FrontierConfig
from crawler.ops.status_model import crawl_status
from crawler.redis.keys import CrawlKeys

__all__ = ["Command", "crawl_status"]

MIN_INTERVAL = 0.2
COUNTERS = (("state", "state"), ("queued", "queued"), ("in progress (leased)", "in_progress"),
            ("failed before, pending", "retrying"), ("domains queued", "domains_queued"),
            ("seeds waiting", "seeds_waiting"),
            ("fingerprints", "fingerprints"), ("duplicates dropped", "duplicates_dropped"),
            ("requests done", "done"), ("leases reclaimed", "reclaimed"),
            ("callback failures", "failed_attempts"), ("poison requests", "poisoned"),
            ("items stored", "items"), ("items kept in Redis", "items_in_redis"),
            ("dead letters", "dead_letters"),
            ("pages/min", "pages_per_minute"))


def duration(seconds: float | None) -> str:
    """``2h05m``, ``4m10s``, ``35s``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    whole = int(seconds)
    if whole >= 3600:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    if whole >= 60:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole}s"


def progress_line(status: dict[str, Any]) -> str:
    """One line: state, pages done, queue, leases, seeds, items, rate and ETA."""
    eta = status["eta_seconds"]
    line = (f"{status['state']:<8} done {status['done']:,}  queued {status['queued']:,}  "
            f"leased {status['in_progress']:,}  seeds {status['seeds_waiting']:,}  "
            f"items {status['items']:,}  {status['pages_per_minute']:,.1f} pages/min")
    if eta is not None:
        line += f"  ETA {duration(eta)}"
    return line


def partitions_line(status: dict[str, Any]) -> str:
    """How many partitions the crawl has, and how evenly its queue is spread over them."""
    balance = status["queued_balance"]
    spread = "-" if balance is None else f"{balance:.2f}"
    return f"{'partitions':<22}{status['partitions']:>12,}  (queued max/mean {spread})"


def node_line(row: dict[str, Any]) -> str:
    """One line about one node: alive or dead, its rate, work and errors."""
    return (f"{row['node']:<36} {'alive' if row['alive'] else 'DEAD':<6} "
            f"beat {row['last_beat_seconds_ago']:>6.1f}s ago  {row['ppm']:>8.1f} pages/min  "
            f"pages {row['pages']:>7}  in progress {row['in_progress']:>4}  "
            f"errors {row['errors']}")


def fancy_terminal() -> bool:
    """Whether standard output is a terminal that understands cursor moves."""
    return sys.stdout.isatty() and os.environ.get("TERM", "dumb") not in ("", "dumb")


class Command(CrawlCommand, ScrapyCommand):
    """Prints what the frontier holds and which nodes work on it, once or until Ctrl-C."""

    def syntax(self) -> str:
        return "NAME [--json] [--watch [--interval SECONDS]]"

    def short_desc(self) -> str:
        return "Show a crawl's queue, counters, rate and nodes (--watch: live)"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--json", action="store_true", help="print JSON, for scripts "
                            "(with --watch: one object a line)")
        parser.add_argument("--watch", "-w", action="store_true",
                            help="refresh until Ctrl-C")
        parser.add_argument("--interval", type=float, default=2.0, metavar="SECONDS",
                            help="seconds between two refreshes of --watch (default: 2)")

    def execute(self, args: list[str], opts: argparse.Namespace) -> None:
        name = self.crawl_name(args)
        if opts.interval < MIN_INTERVAL:
            raise UsageError(f"--interval must be at least {MIN_INTERVAL} seconds")
        config, keys, client = self.open(name)
        try:
            self.show(client, keys, config, opts)
        except KeyboardInterrupt:  # Ctrl-C ends --watch
            pass
        except BrokenPipeError:  # piped into head, say: the reader has what it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())

    def show(self, client: redis.Redis, keys: CrawlKeys, config: FrontierConfig,
             opts: argparse.Namespace) -> None:
        """Print the status once, or until interrupted with ``--watch``."""
        if opts.watch:
            self.watch(client, keys, config, opts)
            return
        name = keys.crawl
        status = crawl_status(client, keys, config)
        if opts.json:
            print(json.dumps({"redis": self.where, **status}, indent=2))
            return
        print(f"Crawl {name!r} at {self.where}")
        for label, key in COUNTERS:
            value = status[key]
            print(f"  {label:<22}{value:>12,}" if isinstance(value, int) else
                  f"  {label:<22}{value:>12}")
        print(f"  {'ETA':<22}{duration(status['eta_seconds']):>12}")
        if status["partitions"] > 1:
            print(f"  {partitions_line(status)}")
        busiest = status["in_flight_by_domain"]
        if busiest:
            about = " (about: counted on a sample)" if status["in_flight_sampled"] else ""
            print(f"  in flight by domain{about}: "
                  + ", ".join(f"{d} {n:,}" for d, n in busiest.items()))
        print(f"  nodes: {status['nodes_alive']} alive, {status['nodes_dead']} dead")
        for row in status["nodes"]:
            print(f"    {node_line(row)}")

    def watch(self, client: redis.Redis, keys: CrawlKeys, config: FrontierConfig,
              opts: argparse.Namespace) -> None:
        """Print the status every ``opts.interval`` seconds until interrupted; a Redis that
        stops answering is reported in place of the status, and tried again."""
        fancy = not opts.json and fancy_terminal()
        drawn = 0
        while True:
            status: dict[str, Any] | None = None
            error = ""
            try:
                status = crawl_status(client, keys, config)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                error = f"Redis at {self.where} did not answer ({exc}); trying again"
            if opts.json:
                shown = status if status is not None else {"crawl": keys.crawl, "error": error}
                print(json.dumps({"redis": self.where, **shown}), flush=True)
            else:
                lines = self.block(keys.crawl, status, error, opts.interval)
                if fancy:  # a wrapped or scrolled-off line would break the redraw
                    size = shutil.get_terminal_size()
                    if len(lines) >= size.lines > 4:
                        hidden = len(lines) - size.lines + 2
                        lines = [*lines[:size.lines - 2], f"    ... and {hidden} more nodes"]
                    lines = [line[:max(20, size.columns - 1)] for line in lines]
                    up = f"\x1b[{drawn}F\x1b[J" if drawn else ""
                    sys.stdout.write(up + "\n".join(lines) + "\n")
                    drawn = len(lines)
                else:
                    sys.stdout.write("\n".join(lines) + "\n\n")
                sys.stdout.flush()
            time.sleep(opts.interval)

    def block(self, name: str, status: dict[str, Any] | None, error: str,
              interval: float) -> list[str]:
        """The lines of one refresh: a header, the progress line, one line per node."""
        lines = [f"Crawl {name!r} at {self.where}  {time.strftime('%H:%M:%S')}  "
                 f"(every {interval:g} s, Ctrl-C to stop)"]
        if status is None:
            return [*lines, f"  {error}"]
        lines.append(f"  {progress_line(status)}")
        if status["partitions"] > 1:
            lines.append(f"  {partitions_line(status)}")
        lines.append(f"  nodes: {status['nodes_alive']} alive, {status['nodes_dead']} dead")
        lines += [f"    {node_line(row)}" for row in status["nodes"]]
        return lines
