"""Nodes of a crawl and the rule that ends it for the whole cluster.

Each node writes a small JSON state with every heartbeat; Redis stamps it with the
server's time (``beat``), so no two hosts' clocks are ever compared. A node is live
while its last beat is younger than ``SCHEDULER_NODE_TIMEOUT``. A beat reads no other
node's state: ``heartbeat.lua`` keeps the latest time any node keeps the crawl going.
"""

from __future__ import annotations

import os
import re
import socket
import uuid
from typing import Any

from crawler.frontier.round import ClusterView

STATEFUL_NAME = re.compile(r".+-\d+")  # a Kubernetes StatefulSet pod's name: NAME-ORDINAL


def new_node_id(configured: str | None) -> str:
    """This node's id: ``SCHEDULER_NODE_ID`` if set, else a stable name the platform gives
    (a StatefulSet pod's hostname, under Kubernetes), else ``host:pid:random``. A node
    restarted with a stable id takes its own leases back at once."""
    if configured is not None:
        return configured
    host = socket.gethostname()
    if os.environ.get("KUBERNETES_SERVICE_HOST") and STATEFUL_NAME.fullmatch(host):
        return host
    return f"{host}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def same_node_elsewhere(state: dict[str, Any], now: float, node_timeout: float) -> bool:
    """Whether the live node whose heartbeat ``state`` carries this process's id is another
    process (a second node given the same id), not this node's previous life."""
    if not is_live(state, now, node_timeout):
        return False
    if state.get("host") != socket.gethostname():
        return True
    pid = int(state.get("pid", 0))
    if pid in (0, os.getpid()):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_live(state: dict[str, Any], now: float, node_timeout: float) -> bool:
    """Whether a node's last heartbeat is recent enough for it to count as running."""
    return now - float(state.get("beat", 0)) < node_timeout


def idle_seconds(state: dict[str, Any], now: float) -> float:
    """How long the node has been idle at server time ``now`` (negative: busy)."""
    idle_for = float(state.get("idle_for", -1))
    if idle_for < 0:
        return -1.0
    return idle_for + (now - float(state.get("beat", now)))


def crawl_finished(view: ClusterView, idle_timeout: float,
                   previous: ClusterView | None = None) -> bool:
    """The end-of-crawl rule: not paused, nothing queued, leased or seeded, at least one
    request ever enqueued, and every live node idle for ``idle_timeout`` seconds (0: never
    end). The last part is ``view.busy_until`` being past: each heartbeat scores its node
    with the time until which it is live and not yet idle that long (``heartbeat.lua``).

    In a crawl of several partitions (``view.parts``), read one after the other, a request
    could move between two reads unseen: it ends only when ``previous`` (this node's
    heartbeat before) was a complete read too, in which every partition held nothing
    queued or leased, and no partition's ``enqueued`` changed in between."""
    if view.control == "paused":
        return False
    if idle_timeout <= 0 or view.queued or view.leased or view.seeds or not view.enqueued:
        return False
    if view.parts is None:
        return False
    if view.parts and (previous is None or previous.parts != view.parts
                       or any(queued or leased for queued, leased, _ in view.parts)):
        return False
    return view.busy_until <= view.now
