"""``scrapy status NAME [--json]``: the state of a crawl across the cluster."""

from __future__ import annotations

import argparse
import json
from typing import Any

import redis

from crawler import cluster
from crawler.cli import CrawlCommand
from crawler.config import FrontierConfig
from crawler.keys import CrawlKeys


def crawl_status(client: redis.Redis, keys: CrawlKeys, config: FrontierConfig) -> dict[str, Any]:
    """Queue, leases, seeds, counters and nodes of one crawl, read in one round trip."""
    pipe = client.pipeline(transaction=False)
    pipe.time()
    pipe.zcard(keys.queue)
    pipe.zcard(keys.retry)
    pipe.hlen(keys.leased)
    pipe.type(keys.start_urls)
    pipe.hgetall(keys.stats)
    pipe.xlen(keys.items)
    pipe.llen(keys.dead)
    pipe.hgetall(keys.nodes)
    (secs, micros), queued, retry, leased, seeds_type, stats, items, dead, nodes = pipe.execute()
    now = secs + micros / 1e6
    seeds_len = {b"list": client.llen, b"set": client.scard, b"zset": client.zcard}
    counter = seeds_len.get(seeds_type)
    counts = {k.decode(): int(v) for k, v in stats.items()}
    node_rows = []
    for node_id, raw in sorted(nodes.items()):
        state = json.loads(raw)
        node_rows.append({
            "node": node_id.decode(),
            "alive": cluster.is_live(state, now, config.node_timeout),
            "last_beat_seconds_ago": round(now - float(state.get("beat", 0)), 1),
            **{k: state.get(k) for k in ("pages", "ppm", "items", "errors", "in_progress")},
        })
    return {
        "crawl": keys.crawl,
        "queued": queued + retry,
        "retrying": retry,
        "in_progress": leased,
        "seeds_waiting": counter(keys.start_urls) if counter else 0,
        "fingerprints": counts.get("seen", 0),
        "duplicates_dropped": counts.get("duplicates", 0),
        "done": counts.get("done", 0),
        "reclaimed": counts.get("reclaimed", 0),
        "failed_attempts": counts.get("failed", 0),
        "poisoned": counts.get("poisoned", 0),
        "items": items,
        "dead_letters": dead,
        "nodes": node_rows,
    }


class Command(CrawlCommand):
    """Prints what the frontier holds and which nodes work on it."""

    def syntax(self) -> str:
        return "NAME [--json]"

    def short_desc(self) -> str:
        return "Show a crawl's queue, counters and nodes"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--json", action="store_true", help="print JSON, for scripts")

    def execute(self, args: list[str], opts: argparse.Namespace) -> None:
        name = self.crawl_name(args)
        config, keys, client = self.open(name)
        status = crawl_status(client, keys, config)
        if opts.json:
            print(json.dumps({"redis": self.where, **status}, indent=2))
            return
        print(f"Crawl {name!r} at {self.where}")
        for label, key in (("queued", "queued"), ("in progress (leased)", "in_progress"),
                           ("seeds waiting", "seeds_waiting"), ("fingerprints", "fingerprints"),
                           ("duplicates dropped", "duplicates_dropped"),
                           ("  of which retrying", "retrying"),
                           ("requests done", "done"), ("leases reclaimed", "reclaimed"),
                           ("callback failures", "failed_attempts"),
                           ("poison requests", "poisoned"),
                           ("items stored", "items"), ("dead letters", "dead_letters")):
            print(f"  {label:<22}{status[key]:>12}")
        rows = status["nodes"]
        live = sum(1 for r in rows if r["alive"])
        print(f"  nodes: {live} alive, {len(rows) - live} dead")
        for r in rows:
            print(f"    {r['node']:<36} {'alive' if r['alive'] else 'DEAD':<6} "
                  f"beat {r['last_beat_seconds_ago']:>6.1f}s ago  {r['ppm'] or 0:>8.1f} pages/min  "
                  f"pages {r['pages'] or 0:>7}  in progress {r['in_progress'] or 0:>4}  "
                  f"errors {r['errors'] or 0}")
