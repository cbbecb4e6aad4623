"""The counters of ``scrapy status`` in Prometheus's text format (version 0.0.4).

One family per counter, labelled by ``crawl``, and per node by ``crawl`` and ``node``. A
crawl's figures are its totals, summed over its partitions.
Counters that only grow while a crawl lives are ``counter`` (``_total``); a ``scrapy
reset`` starts them again from 0, which Prometheus reads as a counter reset.
"""

from __future__ import annotations

from typing import Any

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# status field, metric name, type, help
CRAWL_METRICS = (
    ("queued", "crawler_queued", "gauge", "Requests waiting in the queue (retries included)."),
    ("retrying", "crawler_retrying", "gauge", "Requests pending again after a failure."),
    ("in_progress", "crawler_in_progress", "gauge", "Requests leased to nodes."),
    ("domains_queued", "crawler_domains_queued", "gauge", "Domains with requests queued."),
    ("seeds_waiting", "crawler_seeds_waiting", "gauge", "Seeds not yet read by a node."),
    ("fingerprints", "crawler_fingerprints", "gauge", "Distinct requests ever enqueued."),
    ("done", "crawler_requests_done_total", "counter", "Requests acknowledged as done."),
    ("duplicates_dropped", "crawler_duplicates_dropped_total", "counter",
     "Requests dropped as already seen."),
    ("reclaimed", "crawler_leases_reclaimed_total", "counter",
     "Leases that expired and went back to the queue."),
    ("failed_attempts", "crawler_failed_attempts_total", "counter",
     "Callbacks that raised, each counted as a failed attempt."),
    ("poisoned", "crawler_poisoned_total", "counter",
     "Requests dead-lettered after too many failed attempts."),
    ("items", "crawler_items_stored_total", "counter", "Items the crawl stored."),
    ("items_in_redis", "crawler_items_in_redis", "gauge",
     "Items in the Redis item stream (a durable store's commits are trimmed from it)."),
    ("dead_letters", "crawler_dead_letters", "gauge", "Entries in the dead-letter list."),
    ("partitions", "crawler_partitions", "gauge",
     "Partitions the crawl is cut into (each a hash tag: a slot of a Redis Cluster)."),
    ("queued_balance", "crawler_queued_balance", "gauge",
     "The fullest partition's queued requests over the mean (absent with one partition)."),
    ("pages_per_minute", "crawler_pages_per_minute", "gauge",
     "Requests done per minute by the cluster, over about the last minute."),
    ("eta_seconds", "crawler_eta_seconds", "gauge",
     "Seconds until the frontier is empty at its current shrink rate (absent if growing)."),
    ("nodes_alive", "crawler_nodes_alive", "gauge", "Nodes with a recent heartbeat."),
    ("nodes_dead", "crawler_nodes_dead", "gauge", "Nodes listed whose heartbeat is too old."),
)

NODE_METRICS = (
    ("alive", "crawler_node_up", "gauge", "1 if the node's heartbeat is recent, else 0."),
    ("last_beat_seconds_ago", "crawler_node_last_beat_age_seconds", "gauge",
     "Seconds since the node's last heartbeat."),
    ("pages", "crawler_node_pages_total", "counter", "Responses the node received."),
    ("ppm", "crawler_node_pages_per_minute", "gauge", "The node's pages per minute (0 if dead)."),
    ("items", "crawler_node_items_total", "counter", "Items the node scraped."),
    ("errors", "crawler_node_errors_total", "counter", "Errors the node logged."),
    ("in_progress", "crawler_node_in_progress", "gauge", "Requests the node is working on."),
    ("prefetched", "crawler_node_prefetched", "gauge", "Requests the node holds, not started."),
)

STATES = ("running", "idle", "stopped", "finished", "empty")


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_label(v)}"' for k, v in labels.items()) + "}"


def _number(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return repr(float(value)) if isinstance(value, float) else str(int(value))


def render(statuses: list[dict[str, Any]]) -> str:
    """The metrics of the crawls whose ``crawl_status`` are ``statuses``."""
    lines: list[str] = []

    def family(name: str, kind: str, text: str) -> None:
        lines.extend((f"# HELP {name} {text}", f"# TYPE {name} {kind}"))

    for field, name, kind, text in CRAWL_METRICS:
        family(name, kind, text)
        for status in statuses:
            if status.get(field) is not None:
                lines.append(f"{name}{_labels(crawl=status['crawl'])} {_number(status[field])}")
    family("crawler_state", "gauge", f"1 for the crawl's state ({', '.join(STATES)}).")
    for status in statuses:
        for state in STATES:
            lines.append(f"crawler_state{_labels(crawl=status['crawl'], state=state)} "
                         f"{int(status['state'] == state)}")
    for field, name, kind, text in NODE_METRICS:
        family(name, kind, text)
        for status in statuses:
            for row in status["nodes"]:
                labels = _labels(crawl=status["crawl"], node=row["node"],
                                 host=str(row.get("host") or ""))
                lines.append(f"{name}{labels} {_number(row[field])}")
    return "\n".join(lines) + "\n"
