"""A generated static test site served by a private nginx, and a private redis-server.

``generate_site`` writes N HTML pages (``/index.html`` and ``/p/<i>.html``), each
with a ``<title>``, a few KB of text and ``links`` links: page ``i`` links to
``2i+1`` and ``2i+2`` (so every page is reachable from ``/index.html``) and to
pseudo-random pages (never the root) drawn with a fixed seed. ``NginxServer`` runs nginx in the
foreground as a child process with its own config, pid file, logs and temp paths
in a temp dir, on a free port of 127.0.0.1; it never touches /etc/nginx or port 80.
With ``access_log=PATH`` it logs one line per request, ``<unix time> <status> <URI>``
(``ACCESS_LOG_FORMAT``; read back with ``parse_access_line``), written as it happens.
``RedisServer`` runs ``redis-server`` on a free port (never 6379), without persistence.

Serve a site by hand (Ctrl-C stops it)::

    python -m benchmarks.sitegen --pages 5000
"""

from __future__ import annotations

import argparse
import ctypes
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

NGINX_MISSING = (
    "nginx was not found (looked on PATH and in /usr/sbin).\n"
    "Install it (Debian/Ubuntu):  sudo apt-get update && sudo apt-get install -y nginx-light\n"
    "or pass --nginx /path/to/nginx. The benchmark runs its own nginx with its own config;\n"
    "it never uses /etc/nginx or port 80."
)

_WORDS = (
    "crawler frontier redis lease batch queue fingerprint scheduler spider page link "
    "title node cluster seed parse item pipeline store request response"
).split()

# nginx log_format of the optional access log: "<$msec> <$status> <$request_uri>".
ACCESS_LOG_FORMAT = "$msec $status $request_uri"


def page_path(i: int) -> str:
    """URL path of page ``i`` (page 0 is the root, ``/index.html``)."""
    return "/index.html" if i == 0 else f"/p/{i}.html"


def page_links(i: int, pages: int, links: int, rng: random.Random) -> list[int]:
    """Targets of page ``i``: its two tree children (if any), then random pages.

    Nothing links back to page 0: crawlers fetch their seed with ``dont_filter``,
    so a link to it would be fetched a second time by some crawlers only.
    """
    targets = [c for c in (2 * i + 1, 2 * i + 2) if c < pages][:links]
    while len(targets) < links and pages > 1:
        targets.append(rng.randrange(1, pages))
    return targets


def generate_site(root: Path, pages: int = 5000, links: int = 10, seed: int = 1) -> int:
    """Write the site under ``root``; return the number of pages (all reachable)."""
    rng = random.Random(seed)
    (root / "p").mkdir(parents=True, exist_ok=True)
    text = " ".join(rng.choice(_WORDS) for _ in range(400))  # ~3 KB of body text
    for i in range(pages):
        anchors = "\n".join(
            f'<li><a href="{page_path(t)}">page {t}</a></li>'
            for t in page_links(i, pages, links, rng)
        )
        html = (
            f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Page {i}</title></head>"
            f"<body><h1>Page {i}</h1><p>{text}</p>\n<ul>\n{anchors}\n</ul></body></html>\n"
        )
        (root / page_path(i).lstrip("/")).write_text(html, encoding="utf-8")
    return pages


def free_port() -> int:
    """A TCP port of 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], name: str,
                  timeout: float = 10.0) -> None:
    """Wait until ``port`` accepts connections; raise if ``proc`` dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with code {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f}s")


def die_with_parent() -> None:
    """``preexec_fn`` for children: on Linux, get SIGTERM when the benchmark dies."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def exit_on_sigterm() -> None:
    """Turn SIGTERM into ``SystemExit`` so that ``finally`` blocks stop our servers."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def find_nginx(explicit: str | None = None) -> str:
    """Path of the nginx binary, or ``RuntimeError`` with install instructions."""
    candidates = [explicit] if explicit else [shutil.which("nginx"), "/usr/sbin/nginx"]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError(NGINX_MISSING if not explicit else f"{explicit}: not an executable file")


class NginxServer:
    """nginx serving ``docroot`` on 127.0.0.1:<free port>, as a foreground child process."""

    def __init__(self, docroot: Path, workdir: Path, nginx: str | None = None,
                 workers: int = 1, access_log: Path | None = None) -> None:
        self.docroot = docroot.resolve()
        self.workdir = workdir.resolve()
        self.binary = find_nginx(nginx)
        self.workers = workers
        self.access_log = access_log.resolve() if access_log is not None else None
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> str:
        """The nginx.conf text: everything nginx writes stays in ``workdir``."""
        w = self.workdir
        log = "access_log off;"
        if self.access_log is not None:  # unbuffered: readers see each request at once
            log = (f"log_format bench '{ACCESS_LOG_FORMAT}';\n"
                   f"    access_log {self.access_log} bench;")
        temp = "\n".join(
            f"    {name}_temp_path {w}/{name}_temp;"
            for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        return f"""daemon off;
worker_processes {self.workers};
pid {w}/nginx.pid;
error_log {w}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    {log}
{temp}
    types {{ text/html html; }}
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{self.port};
        root {self.docroot};
        index index.html;
    }}
}}
"""

    def start(self) -> NginxServer:
        """Write the config, start nginx and wait until it accepts connections."""
        conf = self.workdir / "nginx.conf"
        conf.write_text(self.config(), encoding="utf-8")
        # Workers run as 'nobody' when we are root: our own temp dirs (mkdtemp makes
        # them 0700) must be traversable. Nothing outside them is changed.
        for path in (self.workdir, self.docroot):
            path.chmod(path.stat().st_mode | 0o755)
        log = self.workdir / "error.log"
        cmd = [self.binary, "-p", str(self.workdir), "-c", str(conf), "-e", str(log)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, preexec_fn=die_with_parent)
        try:
            wait_for_port(self.port, self.proc, "nginx")
        except RuntimeError as exc:
            self.stop()
            detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"nginx did not start: {exc}\n{detail}") from None
        return self

    def stop(self) -> None:
        """Stop nginx (quit signal, then kill if it lingers)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> NginxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RedisServer:
    """A private ``redis-server`` on a free port, no persistence, data dir in ``workdir``."""

    def __init__(self, workdir: Path, binary: str = "redis-server", *extra: str) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.cmd = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no", "--dir", str(workdir), *extra]
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> redis.Redis:
        """Start the server; return a client once it answers PING."""
        try:
            self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL,
                                         stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
        except FileNotFoundError:
            raise RuntimeError("redis-server not found: apt-get install -y redis-server") from None
        wait_for_port(self.port, self.proc, "redis-server")
        client = redis.Redis.from_url(self.url)
        client.ping()
        return client

    def stop(self) -> None:
        """Terminate the server."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The options every side-by-side benchmark takes alike: log level, extra settings of
    the ours variant, and the nginx and redis-server binaries."""
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--ours-set", action="append", default=[], metavar="NAME=VALUE",
                        help="extra -s setting for the ours variant (repeatable)")
    parser.add_argument("--nginx", default=None, help="nginx binary (default: found on PATH)")
    parser.add_argument("--redis-server", default="redis-server", help="redis-server binary")


def chosen_variants(parser: argparse.ArgumentParser, only: str,
                    variants: tuple[str, ...]) -> list[str]:
    """The variants a comma-separated ``--only`` names; a usage error for an unknown one."""
    chosen = [v.strip() for v in only.split(",") if v.strip()]
    if unknown := set(chosen) - set(variants):
        parser.error(f"unknown variant(s) {sorted(unknown)}; choose from {','.join(variants)}")
    return chosen


def shown_path(file: str) -> str:
    """A script's path as a user would type it: relative to the current folder if inside."""
    script = Path(file).resolve()
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def stop_all(server: RedisServer | None, web: NginxServer | None, workdir: Path,
             keep: bool) -> None:
    """Stop what a benchmark run started and remove its temp dir (or say where it is)."""
    if server:
        server.stop()
    if web:
        web.stop()
    if keep:
        print(f"\nkept {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


def parse_access_line(line: str) -> tuple[float, int, str] | None:
    """``(unix time, status, URI)`` of one access-log line, or ``None`` if it is not one."""
    parts = line.split(" ", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    try:
        return float(parts[0]), int(parts[1]), parts[2].rstrip("\n")
    except ValueError:
        return None


def redis_counters(client: redis.Redis) -> tuple[dict[str, int], int]:
    """Per-command call counts and ``total_reads_processed``, from one ``INFO all``."""
    info = client.info("all")
    calls = {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in info.items()
             if k.startswith("cmdstat_")}
    return calls, int(info["total_reads_processed"])


async def open_engine(spidercls: type, settings: dict[str, Any]) -> tuple[Any, Any]:
    """A real Scrapy engine open on ``spidercls`` with ``settings`` (not crawling): the
    crawler and its scheduler, for benchmarks that call the scheduler API themselves."""
    from scrapy.utils.test import get_crawler

    crawler = get_crawler(spidercls, {"LOG_LEVEL": "WARNING", "TELNETCONSOLE_ENABLED": False,
                                      **settings})
    crawler.spider = crawler._create_spider()
    crawler.engine = crawler._create_engine()
    await crawler.engine.open_spider_async(close_if_idle=False)
    slot = crawler.engine._slot
    assert slot is not None
    return crawler, slot.scheduler


def cpu_seconds(info: dict[str, Any]) -> float:
    """Seconds of CPU redis-server has used, from an ``INFO`` reply holding its cpu section."""
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def main() -> None:
    """Generate a site in a temp dir and serve it until Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=5000)
    parser.add_argument("--links", type=int, default=10)
    parser.add_argument("--nginx", default=None, help="path of the nginx binary")
    args = parser.parse_args()
    exit_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="bench-site-") as tmp:
        generate_site(Path(tmp) / "site", args.pages, args.links)
        with NginxServer(Path(tmp) / "site", Path(tmp), args.nginx) as server:
            print(f"serving {args.pages} pages at {server.base_url}/index.html (Ctrl-C stops)")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass


if __name__ == "__main__":
    main()
