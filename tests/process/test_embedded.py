"""With no Redis configured, the embedded server starts, keeps the data, and stops."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from crawler.redis.embedded import socket_url
from tests.conftest import Site, run_scrapy, start_node, wait_all


def test_embedded_redis_keeps_seeds_between_commands_and_stops(tmp_path: Path) -> None:
    data = tmp_path / "redis-data"
    settings = {"REDIS_EMBEDDED_DIR": str(data)}
    seeded = run_scrapy("embedded", "seed", "site", "-", stdin="https://example.com/\n",
                        settings=settings)
    assert seeded.returncode == 0, seeded.stderr
    assert not (data / "redis.sock").exists(), "the embedded Redis outlived its last client"
    assert (data / "appendonlydir").exists() or (data / "appendonly.aof").exists()

    status = run_scrapy("embedded", "status", "site", "--json", settings=settings)
    assert status.returncode == 0, status.stderr
    assert '"seeds_waiting": 1' in status.stdout
    assert socket_url(str(data)) in status.stdout
    assert not (data / "redis.sock").exists()
    assert not (data / "redis.pid").exists(), "the embedded Redis did not shut down"


def _servers_of(folder: Path) -> list[int]:
    """The pids of the redis-server processes working in ``folder`` (it is their cwd)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if (entry.name.isdigit() and (entry / "cwd").resolve() == folder
                    and b"redis-server" in (entry / "cmdline").read_bytes()):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_four_nodes_started_at_once_share_one_server(tmp_path: Path, small_site: Site) -> None:
    data = tmp_path / "redis-data"
    settings = {"REDIS_EMBEDDED_DIR": str(data)}
    logs = [tmp_path / f"node-{i}.log" for i in range(4)]
    nodes = [start_node("embedded", log, **settings) for log in logs]
    try:
        deadline = time.monotonic() + 60
        while (not all("Frontier of crawl" in log.read_text() for log in logs)
               and time.monotonic() < deadline and all(n.poll() is None for n in nodes)):
            time.sleep(0.2)
        assert len(_servers_of(data.resolve())) == 1, "several servers on one data folder"
        seeded = run_scrapy("embedded", "seed", "site", "-", stdin=small_site.page(0) + "\n",
                            settings=settings)
        assert seeded.returncode == 0, seeded.stderr
        assert wait_all(nodes) == [0] * 4
    finally:
        for pid in _servers_of(data.resolve()):
            os.kill(pid, signal.SIGTERM)
    status = run_scrapy("embedded", "status", "site", "--json", settings=settings)
    assert json.loads(status.stdout)["items"] == small_site.pages
