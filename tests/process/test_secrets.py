"""A password given in the Redis URL, as ``user:pass@`` or ``?password=``, never shows:
not in a node's log, ``scrapy status``, the dashboard's JSON, nor the demo's command lines."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import (
    ROOT,
    RedisServer,
    free_port,
    node_env,
    run_scrapy,
    scrapy_command,
    start_node,
    wait_all,
)
from tests.process.test_dashboard import dashboard, get_json

SECRET = "q-s3cret-5e1f"


@pytest.fixture(scope="module")
def locked_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server that asks for a password; yields its URL with ``?password=``."""
    server = RedisServer(free_port(), tmp_path_factory.mktemp("locked"))
    server.start("--appendonly", "no", "--requirepass", SECRET)
    yield f"{server.url}?password={SECRET}"
    server.stop()


def test_a_query_password_shows_nowhere(locked_redis: str, tmp_path: Path) -> None:
    shown = locked_redis.replace(SECRET, "***")
    log = tmp_path / "node.log"
    node = start_node(locked_redis, log)  # no seeds: it waits for some until stopped
    deadline = time.monotonic() + 60
    while "Frontier of crawl" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    node.send_signal(signal.SIGINT)
    wait_all([node])
    text = log.read_text()
    assert f"at {shown}, node" in text
    assert SECRET not in text

    status = run_scrapy(locked_redis, "status", "site", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["redis"] == shown
    assert SECRET not in status.stdout + status.stderr

    with dashboard(locked_redis, "site") as url:
        assert get_json(url + "api/crawls")["redis"] == shown
        assert get_json(url + "api/crawls/site")["redis"] == shown


def _command_lines() -> list[bytes]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            found.append((entry / "cmdline").read_bytes())
        except OSError:
            continue
    return found


def test_the_demo_keeps_the_url_off_its_children_command_lines(locked_redis: str,
                                                                 tmp_path: Path) -> None:
    items = tmp_path / "out" / "items.jsonl"
    demo = subprocess.Popen(
        scrapy_command("demo", "--pages", "30", "--nodes", "2", "-o", str(items)), cwd=ROOT,
        env=node_env(locked_redis), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    seen: list[bytes] = []
    while demo.poll() is None:
        seen += [line for line in _command_lines() if SECRET.encode() in line]
        time.sleep(0.05)
    assert demo.stdout is not None
    output = demo.stdout.read().decode()
    demo.stdout.close()
    assert demo.returncode == 0, output
    assert seen == []
    assert len(items.read_text().splitlines()) == 30
    assert SECRET not in output
