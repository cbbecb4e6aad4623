"""``scrapy demo``: a real crawl on this machine, end to end, in one command.

Serves a generated site on loopback, seeds it, runs two ``scrapy crawl site`` nodes
against one Redis (the embedded one unless ``REDIS_URL`` is set), and exports the items.
The demo's keys use the prefix ``demo``, so they never mix with a real crawl's.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from scrapy.commands import ScrapyCommand
from scrapy.utils.conf import closest_scrapy_cfg

from crawler.commands._base import CrawlCommand
from crawler.frontier import deletion
from crawler.redis import connection

PREFIX = "demo"


class Command(CrawlCommand, ScrapyCommand):
    """Runs the demonstration crawl and prints where the items went."""

    def syntax(self) -> str:
        return "[--pages N] [--nodes N] [-o FILE]"

    def short_desc(self) -> str:
        return "Crawl a bundled local site with two nodes and export the items"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--pages", type=int, default=500, help="pages of the local site")
        parser.add_argument("--nodes", type=int, default=2, help="crawler nodes to run")
        parser.add_argument("-o", "--output", default="demo-output/items.jsonl",
                            help="where to export the items")

    def execute(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        self.settings.set("REDIS_KEY_PREFIX", PREFIX, priority="cmdline")
        config, keys, client = self.open("site")  # held open: the embedded Redis stays up
        deletion.delete_crawl(client, keys)
        root = Path(closest_scrapy_cfg()).parent
        output = Path(opts.output).resolve()
        output.parent.mkdir(parents=True, exist_ok=True)
        base = ["-s", f"REDIS_KEY_PREFIX={PREFIX}",
                "-s", f"REDIS_EMBEDDED_DIR={Path(config.redis.embedded_dir).resolve()}"]
        # In the environment, not on command lines that ps shows: it may hold a password.
        env = {**os.environ, "REDIS_URL": connection.resolve_url(config.redis)}
        site = subprocess.Popen([sys.executable, "-m", "crawler.commands.demo.site", "--pages",
                                 str(opts.pages)], stdout=subprocess.PIPE, text=True)
        try:
            assert site.stdout is not None
            start = f"http://127.0.0.1:{int(site.stdout.readline())}/page?id=0&lang=en"
            print(f"Serving a {opts.pages}-page site at {start}; Redis at {self.where}")
            self._scrapy(root, env, ["seed", "site", "-", *base], stdin=start + "\n")
            logs = [output.parent / f"node-{i + 1}.log" for i in range(opts.nodes)]
            nodes = [self._node(root, env, base, log) for log in logs]
            shown = -1
            while any(node.poll() is None for node in nodes):
                scraped = client.xlen(keys.items)
                if scraped != shown:
                    shown = scraped
                    end = "\r" if sys.stdout.isatty() else "\n"
                    print(f"  {scraped:>6} pages scraped by {opts.nodes} nodes", end=end,
                          flush=True)
                time.sleep(0.5)
            print(f"  {client.xlen(keys.items):>6} pages scraped; all nodes finished")
            failed = [str(log) for node, log in zip(nodes, logs, strict=True) if node.returncode]
            if failed:
                self.fail(f"a node failed; see {', '.join(failed)}")
                return
            self._scrapy(root, env, ["export", "site", "-o", str(output), *base])
            print(f"Node logs: {', '.join(str(log) for log in logs)}")
        finally:
            site.terminate()
            site.wait(10)
            if site.stdout is not None:
                site.stdout.close()

    @staticmethod
    def _node(root: Path, env: dict[str, str], base: list[str],
              log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as handle:
            return subprocess.Popen(
                [sys.executable, "-m", "scrapy", "crawl", "site", *base, "-s",
                 "MAX_IDLE_TIME_BEFORE_CLOSE=3", "-s", "ROBOTSTXT_OBEY=False", "-L", "INFO"],
                cwd=root, env=env, stdout=handle, stderr=subprocess.STDOUT)

    @staticmethod
    def _scrapy(root: Path, env: dict[str, str], args: list[str],
                stdin: str | None = None) -> None:
        subprocess.run([sys.executable, "-m", "scrapy", *args], cwd=root, env=env, input=stdin,
                       text=True, check=True)
