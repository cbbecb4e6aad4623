"""End-to-end crawl throughput: plain Scrapy vs scrapy-redis 0.9.1 vs this project.

One run generates a static site (``benchmarks/sitegen.py``), serves it with a private
nginx, starts a private ``redis-server``, then crawls the whole site with each
variant as real ``scrapy`` subprocesses, interleaved (A B C A B C ...) ``--repeat``
times, and prints medians of:

* pages/s = responses / (last response - first response), timed inside the crawl
  processes by ``benchmarks/statsdump.py``, so start-up and the idle wait before
  close are left out for every variant alike. With ``--nodes N`` the two Redis
  variants run N processes at once on the same frontier (plain Scrapy stays one
  process: the in-memory baseline), and pages/s = all nodes' responses / (last
  response of any node - first response of any node);
* Redis commands/page: the sum of ``calls`` in ``INFO commandstats`` deltas. This
  counts every command of a pipeline or MULTI and every command a Lua script calls;
* Redis round trips/page: ``total_reads_processed`` deltas (one read event per
  request or pipeline the server receives; approximate for very large pipelines);
* CPU ms/page: user + system CPU of the crawl processes (start-up and close included)
  per response, and redis-server's CPU per response: on a shared machine these move less
  than pages/s;
* wall, startup (process start to first response) and close (last response to
  exit, i.e. the idle wait before close) seconds, and the longest gap between two
  responses (a stall).

``ours-polite`` is ours with every politeness check at work but none binding: a
cluster-wide in-flight cap per domain above what a node holds, a pace of 1,000 requests
a second per domain, and robots.txt obeyed (nginx answers 404). Set beside ``ours``, it
shows what politeness costs in pages/s and Redis round trips.

The default site has 3000 pages so that the default run (3 variants x 3 runs)
stays near 5 minutes on a 2-core machine, where Scrapy does ~150 pages/s.

``--before DIR`` runs ours from another checkout too (variant ``ours-before``, right
after ``ours``): a change measured side by side with the code before it.

Usage::

    python benchmarks/crawl_speed.py [--pages 3000] [--repeat 3] [--nodes 1]
                                     [--only scrapy,scrapy-redis,ours] [--before DIR]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # `python benchmarks/crawl_speed.py` puts benchmarks/ first

import redis  # noqa: E402

from benchmarks import sitegen  # noqa: E402

VARIANTS = ("scrapy", "scrapy-redis", "ours", "ours-polite")
BEFORE = "ours-before"  # ours run from another checkout (--before DIR): the code before a change
REDIS_VARIANTS = ("scrapy-redis", "ours", "ours-polite", BEFORE)
OURS = ("ours", "ours-polite", BEFORE)
HERE = Path(__file__).resolve().parent


@dataclass
class Run:
    """The outcome of one crawl process."""

    ok: bool = False
    nodes: int = 1
    responses: int = 0
    pages_per_s: float = 0.0
    wall_s: float = 0.0
    startup_s: float = 0.0
    close_s: float = 0.0
    max_gap_s: float = 0.0
    cpu_s: float = 0.0  # user + system CPU of the crawl processes
    redis_cpu_s: float | None = None
    commands: int | None = None
    round_trips: int | None = None
    by_command: dict[str, int] = field(default_factory=dict)
    error: str = ""


def command_for(variant: str, args: argparse.Namespace, start_url: str, redis_url: str,
                stats_file: Path, extra: dict[str, object] | None = None,
                ) -> tuple[list[str], Path, dict[str, str]]:
    """The scrapy command line, working directory and environment of one node.

    ``extra`` adds ``-s`` settings for this variant (after the common ones).
    """
    common: dict[str, object] = {
        "LOG_LEVEL": args.log_level, "CONCURRENT_REQUESTS": args.concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": args.concurrency, "DOWNLOAD_DELAY": 0,
        "AUTOTHROTTLE_ENABLED": False, "HTTPCACHE_ENABLED": False, "ROBOTSTXT_OBEY": False,
        "TELNETCONSOLE_ENABLED": False, "REMOTE_CONTROL_ENABLED": False,
        "BENCH_STATS_FILE": stats_file,
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCRAPY_", "REDIS_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    extension = json.dumps({"benchmarks.statsdump.StatsDump": 500})
    scrapy = [sys.executable, "-m", "scrapy"]
    cwd = stats_file.parent  # outside the project: runspider must not load its settings
    if variant == "scrapy":
        cmd = [*scrapy, "runspider", str(HERE / "plain_spider.py"), "-a", f"start_url={start_url}"]
        common["EXTENSIONS"] = extension
    elif variant == "scrapy-redis":
        cmd = [*scrapy, "runspider", str(HERE / "redis_spider.py")]
        common.update(EXTENSIONS=extension, REDIS_URL=redis_url,
                      MAX_IDLE_TIME_BEFORE_CLOSE=args.idle)
    else:  # ours: the project's own settings (via ours_settings) plus StatsDump
        cmd = [*scrapy, "crawl", args.ours_spider]
        common.update(REDIS_URL=redis_url, MAX_IDLE_TIME_BEFORE_CLOSE=args.idle)
        if variant == "ours-polite":
            common.update(DOMAIN_CONCURRENCY=1000, DOMAIN_RATE="1000/1",
                          ROBOTSTXT_OBEY=True)
        env["SCRAPY_SETTINGS_MODULE"] = "benchmarks.ours_settings"
        cwd = REPO
        if variant == BEFORE:  # the same, from the other checkout
            cwd = args.before
            env["PYTHONPATH"] = os.pathsep.join([str(args.before), env["PYTHONPATH"]])
    common.update(extra or {})
    for key, value in common.items():
        cmd += ["-s", f"{key}={value}"]
    cmd += [part for item in (args.ours_set if variant in OURS else []) for part in ("-s", item)]
    return cmd, cwd, env


def error_excerpt(output: str, lines: int = 12) -> str:
    """The end of a failed run's output, from its last traceback if there is one."""
    tail = output.splitlines()
    starts = [i for i, line in enumerate(tail) if line.startswith("Traceback")]
    return "\n".join((tail[starts[-1]:] if starts else tail)[-lines:])


def nodes_of(variant: str, args: argparse.Namespace) -> int:
    """How many processes crawl together: ``--nodes`` for a Redis variant, else one."""
    return args.nodes if variant in REDIS_VARIANTS else 1


def extra_settings(variant: str, nodes: int) -> dict[str, object]:
    """Settings that only a multi-node run needs.

    scrapy-redis's spider here sets ``SCHEDULER_PERSIST=False``, so the first node that
    closes deletes the shared queue and dupefilter under the nodes still crawling; with
    several nodes every node persists instead (each run starts from ``FLUSHALL`` anyway).
    """
    return {"SCHEDULER_PERSIST": True} if variant == "scrapy-redis" and nodes > 1 else {}


def run_once(variant: str, args: argparse.Namespace, run_dir: Path, start_url: str,
             server: sitegen.RedisServer | None, client: redis.Redis | None) -> Run:
    """Crawl the site once with ``variant`` (its nodes at once); Redis is flushed and
    seeded first."""
    run_dir.mkdir(parents=True)
    nodes = nodes_of(variant, args)
    suffix = [f"-{k}" if nodes > 1 else "" for k in range(1, nodes + 1)]
    stats_files = [run_dir / f"stats{x}.json" for x in suffix]
    logs = [run_dir / f"output{x}.log" for x in suffix]
    result = Run(nodes=nodes)
    before: tuple[dict[str, int], int] = ({}, 0)
    if client is not None:
        client.flushall()
        if variant == "scrapy-redis":
            client.rpush("bench:start_urls", json.dumps({"url": start_url}))
        else:
            client.rpush(f"crawl:{{{args.ours_spider}}}:start_urls", start_url)
        redis_cpu = sitegen.cpu_seconds(client.info("cpu"))
        before = sitegen.redis_counters(client)  # this INFO is counted in the delta: removed below
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # reaped ones: earlier crawls
    started, started_unix = time.monotonic(), time.time()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for stats_file, log in zip(stats_files, logs, strict=True):
            cmd, cwd, env = command_for(variant, args, start_url, server.url if server else "",
                                        stats_file, extra_settings(variant, nodes))
            with open(log, "wb") as out:
                procs.append(subprocess.Popen(
                    cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, start_new_session=True,
                    preexec_fn=sitegen.die_with_parent))
        deadline = started + args.timeout
        for proc in procs:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                result.error = f"timed out after {args.timeout:.0f}s"
                break
    finally:  # on time-out, Ctrl-C or SIGTERM: end the crawl and anything it started
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    result.wall_s, ended_unix = time.monotonic() - started, time.time()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # + the crawl processes, waited for
    result.cpu_s = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    if client is not None:
        calls, reads = sitegen.redis_counters(client)
        result.redis_cpu_s = sitegen.cpu_seconds(client.info("cpu")) - redis_cpu
        delta = {k: n - before[0].get(k, 0) - (k == "info") for k, n in calls.items()}
        result.by_command = {k: n for k, n in delta.items() if n > 0}
        result.commands = sum(result.by_command.values())
        result.round_trips = reads - before[1] - 1
    stats = [json.loads(f.read_text()) for f in stats_files if f.exists()]
    times = sorted(t for data in stats for t in data["response_unix"])
    if times:
        result.responses = len(times)
        window = times[-1] - times[0]
        result.pages_per_s = len(times) / window if window > 0 else 0.0
        result.startup_s = times[0] - started_unix
        result.close_s = ended_unix - times[-1]
        result.max_gap_s = max((b - a for a, b in itertools.pairwise(times)),
                               default=0.0)
    codes = [proc.returncode for proc in procs]
    result.ok = (not result.error and len(stats) == nodes and all(c == 0 for c in codes)
                 and result.responses > 0)
    if not result.ok:
        failed = next((i for i, c in enumerate(codes) if c != 0), 0)
        output = logs[failed].read_text(errors="replace") if logs[failed].exists() else ""
        node = f"node {failed + 1}: " if nodes > 1 else ""
        result.error = result.error or (f"{node}exit code {codes[failed]}\n"
                                        f"{error_excerpt(output)}")
    return result


def median(values: list[float]) -> float:
    """Median, or NaN for an empty list."""
    return statistics.median(values) if values else math.nan


def print_table(results: dict[str, list[Run]], pages: int) -> None:
    """One line per variant with medians over its successful runs, then details."""
    header = ("variant", "nodes", "pages", "pages/s (median)", "min-max", "vs scrapy",
              "CPU ms/page", "vs scrapy", "Redis CPU ms/page", "Redis cmds/page",
              "round trips/page", "wall s", "startup s", "close s", "max gap s")
    rows: list[tuple[str, ...]] = [header]
    base = median([r.pages_per_s for r in results.get("scrapy", []) if r.ok])
    base_cpu = median([r.cpu_s / r.responses * 1000 for r in results.get("scrapy", []) if r.ok])
    for variant, runs in results.items():
        good = [r for r in runs if r.ok]
        if not good:
            nodes = str(runs[0].nodes) if runs else "-"
            rows.append((variant, nodes, "-", "FAILED", *["-"] * (len(header) - 4)))
            continue
        speeds = [r.pages_per_s for r in good]
        counts = sorted({r.responses for r in good})
        per_page = [r.commands / r.responses for r in good if r.commands is not None]
        trips = [r.round_trips / r.responses for r in good if r.round_trips is not None]
        ratio = median(speeds) / base
        cpu = median([r.cpu_s / r.responses * 1000 for r in good])
        redis_cpu = [r.redis_cpu_s / r.responses * 1000 for r in good if r.redis_cpu_s is not None]
        rows.append((
            f"{variant} ({len(good)}/{len(runs)} runs)", str(good[0].nodes),
            "/".join(map(str, counts)) + ("" if counts == [pages] else " (!)"),
            f"{median(speeds):.1f}", f"{min(speeds):.0f}-{max(speeds):.0f}",
            "-" if math.isnan(ratio) else f"{ratio:.2f}x",
            f"{cpu:.2f}", "-" if math.isnan(base_cpu) else f"{cpu / base_cpu:.2f}x",
            f"{median(redis_cpu):.3f}" if redis_cpu else "-",
            f"{median(per_page):.2f}" if per_page else "-",
            f"{median(trips):.2f}" if trips else "-",
            *(f"{median([getattr(r, a) for r in good]):.1f}"
              for a in ("wall_s", "startup_s", "close_s", "max_gap_s")),
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for n, row in enumerate(rows):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(row, widths, strict=True))))
        if n == 0:
            print("  ".join("-" * w for w in widths))
    for variant, runs in results.items():
        good = sorted((r for r in runs if r.ok and r.commands), key=lambda r: r.pages_per_s)
        if good:
            mid = good[len(good) // 2]
            top = sorted(mid.by_command.items(), key=lambda kv: -kv[1])[:10]
            print(f"\n{variant}: Redis commands per page by command (median run): "
                  + ", ".join(f"{k} {v / mid.responses:.2f}" for k, v in top))
        for i, r in enumerate(runs, 1):
            if not r.ok:
                print(f"\n{variant} run {i} FAILED: {r.error}")
    if any(r.ok and r.responses != pages for runs in results.values() for r in runs):
        print(f"\n(!) some run fetched a number of pages other than the {pages} the site has")


def versions(nginx: str, redis_server: str) -> str:
    """Versions of the moving parts, for the report header."""
    import scrapy
    try:
        import scrapy_redis
        sr = getattr(scrapy_redis, "__version__", "?")
    except ImportError:
        sr = "not installed"
    try:
        rs = subprocess.run([redis_server, "--version"], capture_output=True, text=True,
                            check=False).stdout.split()
    except OSError:
        rs = []
    ng = subprocess.run([nginx, "-v"], capture_output=True, text=True, check=False).stderr
    return (f"Python {sys.version.split()[0]}, Scrapy {scrapy.__version__}, scrapy-redis {sr}, "
            f"redis-py {redis.__version__}, redis-server {rs[2][2:] if len(rs) > 2 else '?'}, "
            f"{ng.strip().removeprefix('nginx version: ')}, {os.cpu_count()} CPUs")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options; ``--only`` becomes the list ``args.variants``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=3000, help="pages in the site (3000)")
    parser.add_argument("--links", type=int, default=10, help="links per page (10)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each variant (3)")
    parser.add_argument("--nodes", type=int, default=1,
                        help="processes of each Redis variant crawling together (1); plain "
                             "Scrapy always runs one")
    parser.add_argument("--only", default=",".join(VARIANTS),
                        help=f"comma-separated subset of {','.join(VARIANTS)}")
    parser.add_argument("--concurrency", type=int, default=32, help="CONCURRENT_REQUESTS (32)")
    parser.add_argument("--idle", type=int, default=2, help="MAX_IDLE_TIME_BEFORE_CLOSE, s (2)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per run (300)")
    parser.add_argument("--ours-spider", default="site",
                        help="spider of the ours variant: site (default) or bench, the "
                             "benchmark spider of the other two variants")
    parser.add_argument("--before", type=Path, default=None, metavar="DIR",
                        help="also run ours from this checkout (a git worktree of the code "
                             "before a change), as variant ours-before, right after ours")
    sitegen.add_run_options(parser)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, stats)")
    args = parser.parse_args(argv)
    args.variants = sitegen.chosen_variants(parser, args.only, VARIANTS)
    if args.before is not None:
        if not (args.before / "crawler" / "node").is_dir():
            parser.error(f"--before {args.before}: not a checkout of this project")
        args.before = args.before.resolve()
        args.variants.append(BEFORE)
    if args.nodes < 1:
        parser.error("--nodes must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Set up site + nginx + Redis, run the variants interleaved, print the table."""
    args = parse_args(argv)
    try:
        nginx = sitegen.find_nginx(args.nginx)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 2
    if set(args.variants) & set(REDIS_VARIANTS) and not shutil.which(args.redis_server):
        print(f"{args.redis_server} not found: apt-get install -y redis-server, or pass "
              "--redis-server PATH, or --only scrapy", file=sys.stderr)
        return 2
    sitegen.exit_on_sigterm()
    print("command: python", shlex.join([os.path.relpath(__file__), *sys.argv[1:]]))
    print(versions(nginx, args.redis_server))
    workdir = Path(tempfile.mkdtemp(prefix="crawl-speed-"))
    web: sitegen.NginxServer | None = None
    server: sitegen.RedisServer | None = None
    try:
        sitegen.generate_site(workdir / "site", args.pages, args.links)
        web = sitegen.NginxServer(workdir / "site", workdir, nginx).start()
        start_url = f"{web.base_url}/index.html"
        client = None
        if set(args.variants) & set(REDIS_VARIANTS):
            server = sitegen.RedisServer(workdir, args.redis_server)
            client = server.start()
        print(f"site: {args.pages} pages x {args.links} links at {start_url}; "
              f"redis: {server.url if server else '-'}; workdir: {workdir}")
        for name in args.variants:
            nodes = nodes_of(name, args)
            stats = "stats-K.json" if nodes > 1 else "stats.json"
            cmd, cwd, _ = command_for(name, args, start_url, server.url if server else "",
                                      workdir / "runs" / f"{name}-N" / stats,
                                      extra_settings(name, nodes))
            times = f" x {nodes} processes at once (K = 1..{nodes})" if nodes > 1 else ""
            print(f"  {name}: (cd {cwd} && {shlex.join(cmd)}){times}")
        print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()),
              flush=True)
        label = {v: v if v not in OURS or args.ours_spider == "site"
                 else f"{v}[{args.ours_spider}]" for v in args.variants}
        results: dict[str, list[Run]] = {label[name]: [] for name in args.variants}
        step, total = 0, args.repeat * len(args.variants)
        for i in range(1, args.repeat + 1):
            for name in args.variants:
                redis_on = name in REDIS_VARIANTS
                run = run_once(name, args, workdir / "runs" / f"{name}-{i}", start_url,
                               server if redis_on else None, client if redis_on else None)
                results[label[name]].append(run)
                step += 1
                cmds = f", {run.commands / run.responses:.2f} cmds/page" if (
                    run.commands is not None and run.responses) else ""
                status = (f"{run.responses} pages, {run.pages_per_s:.1f} pages/s{cmds}"
                          if run.ok else "FAILED: " + run.error.splitlines()[-1])
                print(f"[{step}/{total}] {label[name]} run {i}: {status} (wall {run.wall_s:.1f}s)",
                      flush=True)
        print("load average after: {:.2f} {:.2f} {:.2f}\n".format(*os.getloadavg()))
        print_table(results, args.pages)
        return 0 if all(r.ok for runs in results.values() for r in runs) else 1
    finally:
        sitegen.stop_all(server, web, workdir, keep=args.keep)


if __name__ == "__main__":
    sys.exit(main())
