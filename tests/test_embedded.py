"""With no Redis configured, the embedded server starts, keeps the data, and stops."""

from __future__ import annotations

from pathlib import Path

from crawler.embedded import socket_url
from tests.conftest import run_scrapy


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
