"""The control state of a crawl (running, paused, stopped) and the commands that set it.

Nodes read the state with every heartbeat (``SCHEDULER_HEARTBEAT_SECONDS``), so a
command takes effect on every host within about a second.
"""

from __future__ import annotations

import argparse

from crawler.commands._base import CrawlCommand

STATES = {"": "running", "paused": "paused", "stopped": "stopped"}


class ControlCommand(CrawlCommand):
    """Mixin of ``pause``, ``resume`` and ``stop``: set the state, say what it means."""

    state = ""
    done = ""

    def syntax(self) -> str:
        return "NAME"

    def execute(self, args: list[str], opts: argparse.Namespace) -> None:
        name = self.crawl_name(args)
        _, keys, client = self.open(name)
        if self.state:
            client.set(keys.control, self.state)
        else:
            client.unlink(keys.control)
        print(f"Crawl {name!r} {self.done}")
