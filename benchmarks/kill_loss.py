"""Kill -9 a crawl node mid-crawl: pages lost, fetched twice, and the time the crawl takes
side by side with the same crawl without a kill; scrapy-redis 0.9.1 vs ours.

One run generates a static site (``benchmarks/sitegen.py``), serves it with a private
nginx that writes an access log (``<unix time> <status> <URI>`` per request), starts a
private ``redis-server``, and for each variant, interleaved ``--repeat`` times:

1. ``FLUSHALL``, push the seed, start ``--nodes`` (2) crawl processes of the variant;
2. tail the access log; when the number of distinct site pages fetched reaches
   ``--at`` (30 %) of the site, ``SIGKILL`` one node (its whole process group). With
   ``--kills N`` kill *i* (0-based) happens at ``at + i * (1 - at) / N`` of the site,
   on node ``i mod nodes``, and every killed node is restarted at once (a new process
   on the same frontier) unless ``--no-restart``;
3. wait until the remaining nodes end by themselves (their idle rule), then count:

* **pages lost**: site pages that nginx never served with status 200 (access log);
* **fetched twice**: page downloads beyond the first of each page (access log);
* **items duplicated**: entries of the variant's shared item store minus its distinct
  ``url`` values. Ours: the stream ``crawl:{<spider>}:items`` (its store skips an item
  whose URL it holds already). scrapy-redis: the list ``bench:items`` that its
  ``RedisPipeline`` (enabled here) appends to; ``items missing`` = site pages with no
  item in the store (fetched or not);
* **finish s**: first node started -> last node exited; **last fetch s**: first node
  started -> last page served.

Variants: ``ours-unkilled`` (the same crawl, no kill: the figure the others are
measured against, as **vs unkilled s**), ``ours`` (the killed node restarts under a new
node id: its leases come back when they expire, ``SCHEDULER_LEASE_SECONDS``),
``ours-same-id`` (it restarts with its ``SCHEDULER_NODE_ID``, as a systemd unit or a pod
would: it takes its leases back at once), and ``scrapy-redis``.
All get the same ``-s`` settings as ``crawl_speed.py`` (32 concurrent
requests per node, no delay, no robots.txt) and ``MAX_IDLE_TIME_BEFORE_CLOSE=3``; ours
runs with its default lease and node timeout unless ``--lease``. scrapy-redis
adds ``SCHEDULER_PERSIST=True`` (with its spider's ``False`` the first node that
closes would delete the shared queue and dupefilter under the others) and its
``RedisPipeline``. Its idle timer is per node and starts when the spider class is
imported (reset only while seeds wait), so a node that has lived 3 s closes at the
first moment its queue pop comes back empty, whatever the other nodes still do.

The default site has 3000 pages so that the default run (4 variants x 3 runs, each
~30-50 s on a loaded 2-core machine) stays under ~10 minutes.

Usage::

    python benchmarks/kill_loss.py [--pages 3000] [--kills 1] [--at 0.3] [--repeat 3]
                                   [--nodes 2] [--only scrapy-redis,ours-unkilled,ours,...]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # `python benchmarks/kill_loss.py` puts benchmarks/ first

import redis  # noqa: E402

from benchmarks import crawl_speed, sitegen  # noqa: E402

VARIANTS = ("ours-unkilled", "ours", "ours-same-id", "scrapy-redis")
POLL_SECONDS = 0.02


@dataclass
class Kill:
    """One SIGKILL: which node slot, and how far the crawl was."""

    slot: int
    distinct_pages: int
    at_s: float
    leases: int | None = None  # ours: requests the killed node held under lease


@dataclass
class KillRun:
    """The outcome of one run of one variant."""

    ok: bool = False
    error: str = ""
    kills: list[Kill] = field(default_factory=list)
    lost: int = 0
    twice: int = 0
    downloads: int = 0
    other_requests: int = 0
    items: int = 0
    items_duplicated: int = 0
    items_missing: int = 0
    store_skipped: int | None = None
    finish_s: float = 0.0
    last_fetch_s: float = 0.0


class AccessLog:
    """Follows nginx's access log from its current end; counts each site page's downloads."""

    def __init__(self, path: Path, site_paths: set[str]) -> None:
        self.path = path
        self.site_paths = site_paths
        self.offset = path.stat().st_size if path.exists() else 0
        self.partial = b""
        self.downloads: Counter[str] = Counter()
        self.other = 0
        self.last_unix = 0.0

    def poll(self) -> None:
        """Read and count the lines written since the last call."""
        if not self.path.exists():
            return
        with open(self.path, "rb") as log:
            log.seek(self.offset)
            data = log.read()
        self.offset += len(data)
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        for raw in lines:
            parsed = sitegen.parse_access_line(raw.decode(errors="replace"))
            if parsed is None:
                continue
            when, status, uri = parsed
            self.last_unix = max(self.last_unix, when)
            if status == 200 and uri in self.site_paths:
                self.downloads[uri] += 1
            else:
                self.other += 1

    @property
    def distinct(self) -> int:
        """Distinct site pages served with status 200 so far."""
        return len(self.downloads)


@dataclass
class Node:
    """One crawl process in a node slot (``generation`` counts restarts of the slot)."""

    slot: int
    generation: int
    proc: subprocess.Popen[bytes]
    log: Path
    stats_file: Path
    killed: bool = False


def is_ours(variant: str) -> bool:
    return variant.startswith("ours")


def node_id(variant: str, slot: int) -> str | None:
    """The ``SCHEDULER_NODE_ID`` of a node slot (``ours-same-id`` only)."""
    return f"bench-node-{slot + 1}" if variant == "ours-same-id" else None


def extra_settings(variant: str, args: argparse.Namespace, slot: int) -> dict[str, object]:
    """The settings a variant needs for this scenario, beyond ``crawl_speed``'s common ones."""
    if is_ours(variant):
        extra: dict[str, object] = {}
        if args.lease is not None:
            extra.update(SCHEDULER_LEASE_SECONDS=args.lease, SCHEDULER_NODE_TIMEOUT=args.lease)
        if (name := node_id(variant, slot)) is not None:
            extra["SCHEDULER_NODE_ID"] = name
        return extra
    return {"SCHEDULER_PERSIST": True,
            "ITEM_PIPELINES": json.dumps({"scrapy_redis.pipelines.RedisPipeline": 300})}


def node_command(variant: str, args: argparse.Namespace, start_url: str, redis_url: str,
                 stats_file: Path, slot: int) -> tuple[list[str], Path, dict[str, str]]:
    """The command line, working directory and environment of one node."""
    return crawl_speed.command_for("ours" if is_ours(variant) else variant, args, start_url,
                                   redis_url, stats_file, extra_settings(variant, args, slot))


def start_node(variant: str, args: argparse.Namespace, run_dir: Path, start_url: str,
               redis_url: str, slot: int, generation: int) -> Node:
    """Start one node process in its own session (so that a kill takes its whole group)."""
    node_dir = run_dir / f"node{slot + 1}-{generation}"
    node_dir.mkdir(parents=True)
    stats_file = node_dir / "stats.json"
    cmd, cwd, env = node_command(variant, args, start_url, redis_url, stats_file, slot)
    log = node_dir / "output.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                preexec_fn=sitegen.die_with_parent)
    return Node(slot, generation, proc, log, stats_file)


def kill_thresholds(pages: int, at: float, kills: int) -> list[int]:
    """Distinct pages fetched at which each kill happens: ``at``, then evenly up to 100 %."""
    return [max(1, math.ceil(pages * (at + i * (1 - at) / kills))) for i in range(kills)]


def stored_item_urls(client: redis.Redis, variant: str, spider: str) -> list[str]:
    """The ``url`` of every entry of the variant's item store, duplicates included."""
    urls: list[str] = []
    if is_ours(variant):
        key, cursor = f"crawl:{{{spider}}}:items", "-"
        while True:
            chunk = cast("list[tuple[bytes, dict[bytes, bytes]]]",
                         client.xrange(key, min=cursor, count=1000))
            urls += [json.loads(fields[b"item"])["url"] for _, fields in chunk]
            if len(chunk) < 1000:
                return urls
            cursor = "(" + chunk[-1][0].decode()
    for raw in client.lrange("bench:items", 0, -1):
        urls.append(json.loads(raw)["url"])
    return urls


def leases_held(client: redis.Redis, variant: str, spider: str, node: Node) -> int | None:
    """Ours: how many requests the (dead) node holds under lease; its node id is its
    ``SCHEDULER_NODE_ID`` or ``host:pid:random``, and each lease value starts with it.
    ``None`` for scrapy-redis."""
    if not is_ours(variant):
        return None
    name = node_id(variant, node.slot)
    prefix = (f"{name} " if name else f"{socket.gethostname()}:{node.proc.pid}:").encode()
    leased = cast("dict[bytes, bytes]", client.hgetall(f"crawl:{{{spider}}}:leased"))
    return sum(1 for value in leased.values() if value.startswith(prefix))


def stop_all(nodes: list[Node]) -> None:
    """SIGKILL every node process still running (time-out, Ctrl-C, SIGTERM)."""
    for node in nodes:
        if node.proc.poll() is None:
            os.killpg(node.proc.pid, signal.SIGKILL)
            node.proc.wait()


def run_once(variant: str, args: argparse.Namespace, run_dir: Path, web: sitegen.NginxServer,
             server: sitegen.RedisServer, client: redis.Redis) -> KillRun:
    """One crawl of the site by ``args.nodes`` nodes of ``variant``, with the kills."""
    assert web.access_log is not None
    start_url = f"{web.base_url}/index.html"
    site_paths = {sitegen.page_path(i) for i in range(args.pages)}
    spider = args.ours_spider if is_ours(variant) else "bench"
    client.flushall()
    if variant == "scrapy-redis":
        client.rpush("bench:start_urls", json.dumps({"url": start_url}))
    else:
        client.rpush(f"crawl:{{{spider}}}:start_urls", start_url)
    result = KillRun()
    access = AccessLog(web.access_log, site_paths)
    thresholds = ([] if variant == "ours-unkilled"
                  else kill_thresholds(args.pages, args.at, args.kills))
    started, started_unix = time.monotonic(), time.time()
    live = [start_node(variant, args, run_dir, start_url, server.url, slot, 0)
            for slot in range(args.nodes)]
    every = list(live)
    try:
        while True:
            access.poll()
            now = time.monotonic()
            if len(result.kills) < len(thresholds) and (
                    access.distinct >= thresholds[len(result.kills)]):
                running = [n for n in live if n.proc.poll() is None]
                if not running:
                    result.error = (f"every node ended before kill {len(result.kills) + 1} "
                                    f"({access.distinct} pages fetched)")
                    break
                want = len(result.kills) % args.nodes
                victim = next((n for n in running if n.slot == want), running[0])
                os.killpg(victim.proc.pid, signal.SIGKILL)
                victim.proc.wait()
                victim.killed = True
                result.kills.append(Kill(victim.slot, access.distinct, now - started,
                                         leases_held(client, variant, spider, victim)))
                live.remove(victim)
                if args.restart:
                    node = start_node(variant, args, run_dir, start_url, server.url,
                                      victim.slot, victim.generation + 1)
                    live.append(node)
                    every.append(node)
                continue
            if all(n.proc.poll() is not None for n in live):
                break
            if now - started > args.timeout:
                result.error = f"timed out after {args.timeout:.0f}s"
                break
            time.sleep(POLL_SECONDS)
    finally:
        stop_all(every)
    result.finish_s = time.monotonic() - started
    time.sleep(0.2)  # nginx logs a request when it is done: nothing is left in flight now
    access.poll()
    result.downloads = sum(access.downloads.values())
    result.lost = args.pages - access.distinct
    result.twice = result.downloads - access.distinct
    result.other_requests = access.other
    result.last_fetch_s = access.last_unix - started_unix if access.last_unix else math.nan
    urls = stored_item_urls(client, variant, spider)
    result.items = len(urls)
    distinct_urls = {u for u in urls if url_path(u) in site_paths}
    result.items_duplicated = len(urls) - len(set(urls))
    result.items_missing = args.pages - len(distinct_urls)
    if is_ours(variant):
        skipped = client.hget(f"crawl:{{{spider}}}:stats", "item_duplicates")
        result.store_skipped = int(skipped or 0)
    if not result.error:
        result.error = check_nodes(every, len(result.kills), len(thresholds))
    result.ok = not result.error
    return result


def url_path(url: str) -> str:
    """The path of a site URL (``http://127.0.0.1:PORT/p/1.html`` -> ``/p/1.html``)."""
    return "/" + url.split("://", 1)[-1].partition("/")[2]


def check_nodes(nodes: list[Node], kills: int, planned: int) -> str:
    """Why the run does not count ("" if it does): every node not killed must have
    ended by itself, with exit status 0 and finish reason ``finished``."""
    if kills < planned:
        return f"only {kills} of {planned} kills happened"
    for node in nodes:
        if node.killed:
            continue
        name = f"node {node.slot + 1} (start {node.generation + 1})"
        output = node.log.read_text(errors="replace") if node.log.exists() else ""
        if node.proc.returncode != 0:
            return (f"{name}: exit code {node.proc.returncode}\n"
                    f"{crawl_speed.error_excerpt(output)}")
        if not node.stats_file.exists():
            return f"{name}: no stats file\n{crawl_speed.error_excerpt(output)}"
        reason = json.loads(node.stats_file.read_text()).get("reason")
        if reason != "finished":
            return f"{name}: closed with reason {reason!r}"
    return ""


median = crawl_speed.median


def spread(values: list[float], digits: int = 0) -> str:
    """``median (min-max)`` of a column."""
    if not values:
        return "-"
    if min(values) == max(values):
        return f"{median(values):.{digits}f}"
    return f"{median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def print_table(results: dict[str, list[KillRun]]) -> None:
    """One line per variant: medians (min-max) over its successful runs; ``vs unkilled s``
    is a run's finish time minus the median of ``ours-unkilled`` (same invocation)."""
    header = ("variant", "kills", "pages lost", "fetched twice", "items duplicated",
              "items missing", "finish s", "vs unkilled s", "last fetch s")
    rows: list[tuple[str, ...]] = [header]
    base_runs = [r.finish_s for key, runs in results.items() if key.startswith("ours-unkilled")
                 for r in runs if r.ok]
    base = median(base_runs) if base_runs else None
    for variant, runs in results.items():
        good = [r for r in runs if r.ok]
        name = f"{variant} ({len(good)}/{len(runs)} runs)"
        kills = str(len(runs[0].kills)) if runs else "-"
        if not good:
            rows.append((name, kills, "FAILED", *["-"] * (len(header) - 3)))
            continue
        late = "-" if base is None else spread([r.finish_s - base for r in good], 1)
        rows.append((
            name, kills,
            spread([r.lost for r in good]), spread([r.twice for r in good]),
            spread([r.items_duplicated for r in good]), spread([r.items_missing for r in good]),
            spread([r.finish_s for r in good], 1), late,
            spread([r.last_fetch_s for r in good], 1),
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for n, row in enumerate(rows):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(row, widths, strict=True))))
        if n == 0:
            print("  ".join("-" * w for w in widths))
    for variant, runs in results.items():
        for i, r in enumerate(runs, 1):
            if not r.ok:
                print(f"\n{variant} run {i} FAILED: {r.error}")


def describe(run: KillRun) -> str:
    """One progress line for a run."""
    if not run.ok:
        return "FAILED: " + run.error.splitlines()[0]
    kills = ", ".join(
        f"node {k.slot + 1} at {k.distinct_pages} pages/{k.at_s:.1f}s"
        + (f" holding {k.leases} leases" if k.leases is not None else "") for k in run.kills)
    skipped = f", store skipped {run.store_skipped}" if run.store_skipped is not None else ""
    return (f"killed {kills}; lost {run.lost}, fetched twice {run.twice} "
            f"({run.downloads} downloads, {run.other_requests} other requests), "
            f"items {run.items} (duplicated {run.items_duplicated}, missing "
            f"{run.items_missing}{skipped}); finish {run.finish_s:.1f}s, last fetch "
            f"{run.last_fetch_s:.1f}s")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options; ``--only`` becomes the list ``args.variants``."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--pages", type=int, default=3000, help="pages in the site (3000)")
    parser.add_argument("--links", type=int, default=10, help="links per page (10)")
    parser.add_argument("--kills", type=int, default=1, help="SIGKILLs per run (1)")
    parser.add_argument("--at", type=float, default=0.3,
                        help="fraction of the site's pages fetched at the first kill (0.3)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each variant (3)")
    parser.add_argument("--nodes", type=int, default=2, help="nodes crawling together (2)")
    parser.add_argument("--no-restart", dest="restart", action="store_false",
                        help="do not restart a killed node (then --kills must be < --nodes)")
    parser.add_argument("--only", default=",".join(VARIANTS),
                        help=f"comma-separated subset of {','.join(VARIANTS)}")
    parser.add_argument("--concurrency", type=int, default=32, help="CONCURRENT_REQUESTS (32)")
    parser.add_argument("--idle", type=int, default=3, help="MAX_IDLE_TIME_BEFORE_CLOSE, s (3)")
    parser.add_argument("--lease", type=float, default=None,
                        help="ours: SCHEDULER_LEASE_SECONDS = SCHEDULER_NODE_TIMEOUT "
                             "(default: the engine's defaults)")
    parser.add_argument("--timeout", type=float, default=240, help="seconds per run (240)")
    parser.add_argument("--ours-spider", default="site",
                        help="spider of the ours variant: site (default) or bench, the "
                             "benchmark spider of scrapy-redis's variant")
    sitegen.add_run_options(parser)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, access log)")
    args = parser.parse_args(argv)
    args.variants = sitegen.chosen_variants(parser, args.only, VARIANTS)
    if args.nodes < 2:
        parser.error("--nodes must be at least 2: one is killed, the others carry on")
    if not 0 < args.at < 1:
        parser.error("--at must be between 0 and 1")
    if args.kills < 1 or (not args.restart and args.kills >= args.nodes):
        parser.error("--kills must be at least 1, and below --nodes with --no-restart")
    return args


def main(argv: list[str] | None = None) -> int:
    """Set up site + nginx (with access log) + Redis, run the variants interleaved."""
    args = parse_args(argv)
    try:
        nginx = sitegen.find_nginx(args.nginx)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 2
    if not shutil.which(args.redis_server):
        print(f"{args.redis_server} not found: apt-get install -y redis-server, or pass "
              "--redis-server PATH", file=sys.stderr)
        return 2
    sitegen.exit_on_sigterm()
    print("command: python", shlex.join([os.path.relpath(__file__), *sys.argv[1:]]))
    print(crawl_speed.versions(nginx, args.redis_server))
    workdir = Path(tempfile.mkdtemp(prefix="kill-loss-"))
    web: sitegen.NginxServer | None = None
    server: sitegen.RedisServer | None = None
    try:
        sitegen.generate_site(workdir / "site", args.pages, args.links)
        web = sitegen.NginxServer(workdir / "site", workdir, nginx,
                                  access_log=workdir / "access.log").start()
        server = sitegen.RedisServer(workdir, args.redis_server)
        client = server.start()
        start_url = f"{web.base_url}/index.html"
        thresholds = kill_thresholds(args.pages, args.at, args.kills)
        print(f"site: {args.pages} pages x {args.links} links at {start_url}; "
              f"redis: {server.url}; workdir: {workdir}")
        print(f"{args.nodes} nodes per variant; SIGKILL at {', '.join(map(str, thresholds))} "
              f"distinct pages fetched; killed nodes "
              f"{'restarted at once' if args.restart else 'not restarted'}")
        for name in args.variants:
            cmd, cwd, _ = node_command(name, args, start_url, server.url,
                                       workdir / "runs" / f"{name}-N" / "nodeK-G" / "stats.json",
                                       0)
            print(f"  {name}: (cd {cwd} && {shlex.join(cmd)}) x {args.nodes} processes")
        print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()), flush=True)
        label = {v: v for v in args.variants} | (
            {v: f"{v}[{args.ours_spider}]" for v in args.variants if is_ours(v)}
            if args.ours_spider != "site" else {})
        results: dict[str, list[KillRun]] = {label[name]: [] for name in args.variants}
        step, total = 0, args.repeat * len(args.variants)
        for i in range(1, args.repeat + 1):
            for name in args.variants:
                run = run_once(name, args, workdir / "runs" / f"{name}-{i}", web, server, client)
                results[label[name]].append(run)
                step += 1
                print(f"[{step}/{total}] {label[name]} run {i}: {describe(run)}", flush=True)
        print("load average after: {:.2f} {:.2f} {:.2f}\n".format(*os.getloadavg()))
        print_table(results)
        print("\npages lost / fetched twice: from nginx's access log; items: the variant's "
              "item store in Redis\n(ours: stream crawl:{spider}:items; scrapy-redis: its "
              "RedisPipeline's list bench:items);\nitems missing = site pages with no item "
              "stored; medians (min-max) over the successful runs")
        return 0 if all(r.ok for runs in results.values() for r in runs) else 1
    finally:
        sitegen.stop_all(server, web, workdir, keep=args.keep)


if __name__ == "__main__":
    sys.exit(main())
