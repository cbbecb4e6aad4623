"""The client factory, the scripts and WAIT against a real Redis Cluster and Sentinel."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
from scrapy.settings import Settings

from crawler.errors import RedisUnavailableError
from crawler.frontier import scripts
from crawler.frontier.exchange import Frontier
from crawler.frontier.round import Outgoing, Push
from crawler.redis import connection
from crawler.redis.config import RedisConfig
from crawler.redis.keys import CrawlKeys
from tests.conftest import free_port, run_scrapy
from tests.contract.test_frontier import EXACT
from tests.redis_topologies import ClusterTopology, SentinelTopology, client_at

KEYS = CrawlKeys("crawl", "site")


def config(url: str) -> RedisConfig:
    """A node's Redis settings for ``url``, its WAIT given 3 s: a loaded 2-core machine
    can keep a replica from answering in the default 500 ms, which is not what these
    tests are about."""
    return RedisConfig.from_settings(Settings({"REDIS_URL": url, "REDIS_WAIT_TIMEOUT_MS": 3000}))


def frontier_round(url: str, flush_scripts: tuple[int, ...] = ()) -> list[bytes]:
    """Push three requests and pop them through the factory's asyncio client."""
    async def main() -> list[bytes]:
        client = await connection.async_client(config(url), url)
        try:
            frontier = Frontier(client, KEYS, "priority", "n1", 60, max_attempts=3,
                                partitions=1)
            await frontier.open(EXACT)
            for port in flush_scripts:
                with client_at(port) as node:
                    node.script_flush()
            pushes = [Push(bytes([i]) * 20, 0, "a.example", b'{"url":"http://a.example/%d"}' % i)
                      for i in range(3)]
            saved = await frontier.exchange(Outgoing(pushes=pushes))
            assert saved.error is None and saved.added == 3
            return [e.payload for e in (await frontier.exchange(Outgoing(pop=10))).popped]
        finally:
            await connection.close_async_clients()
    return asyncio.run(main())


def test_a_url_naming_one_node_reaches_every_master(cluster_url: str,
                                                    redis_cluster: ClusterTopology) -> None:
    client = connection.sync_client(config(cluster_url), cluster_url)
    crawls = [f"c{i}" for i in range(12)]
    for name in crawls:
        client.set(CrawlKeys("crawl", name).stats, 1)
    owners = {redis_cluster.master_of(CrawlKeys("crawl", n).stats) for n in crawls}
    assert len(owners) == 3, "the crawls should sit on every master"
    assert len(list(client.scan_iter(match="crawl:*"))) == len(crawls)
    client.close()


def test_scripts_are_in_every_nodes_cache_replicas_included(
        cluster_url: str, redis_cluster: ClusterTopology) -> None:
    assert len(frontier_round(cluster_url)) == 3
    for port in redis_cluster.alive():
        with client_at(port) as node:
            assert all(node.script_exists(*[s.sha for s in scripts.ALL])), port


def test_a_round_after_the_nodes_lost_their_scripts(cluster_url: str,
                                                    redis_cluster: ClusterTopology) -> None:
    popped = frontier_round(cluster_url, flush_scripts=tuple(redis_cluster.alive()))
    assert sorted(popped) == [b'{"url":"http://a.example/%d"}' % i for i in range(3)]


def test_a_frontier_round_through_sentinel(sentinel_setup: SentinelTopology) -> None:
    assert len(frontier_round(sentinel_setup.url)) == 3


def test_an_unreachable_sentinel_is_named_with_the_password_hidden() -> None:
    url = f"redis+sentinel://:s3cret@127.0.0.1:{free_port()}/mymaster"
    with pytest.raises(RedisUnavailableError) as error:
        connection.sync_client(config(url), url)
    assert f"Redis at redis+sentinel://:***@127.0.0.1:{url.split(':')[3]}" in str(error.value)
    assert "s3cret" not in str(error.value)


def test_seed_does_not_say_stored_before_a_replica_has_the_seeds(
        sentinel_setup: SentinelTopology, tmp_path: Path) -> None:
    replica = sentinel_setup.servers.processes[sentinel_setup.replica]
    replica.send_signal(signal.SIGSTOP)  # connected, but acknowledges nothing
    try:
        result = run_scrapy(sentinel_setup.url, "seed", "site", "-",
                            stdin="https://example.com/\n")
    finally:
        replica.send_signal(signal.SIGCONT)
    assert result.returncode == 1
    assert "a write reached 0 of the 1 replicas REDIS_WAIT_REPLICAS asks for" in result.stderr
    assert "Seeded" not in result.stdout
    again = run_scrapy(sentinel_setup.url, "seed", "site", "-", stdin="https://example.com/\n")
    assert again.returncode == 0 and "Seeded 1 URLs" in again.stdout, again.stderr


def test_strict_wait_saves_nothing_while_the_master_lacks_its_replica(
        sentinel_setup: SentinelTopology) -> None:
    sentinel_setup.lose_replica()
    seed = ["seed", "site", "-"]
    degraded = run_scrapy(sentinel_setup.url, *seed, stdin="https://example.com/a\n")
    assert degraded.returncode == 0 and "Seeded 1 URLs" in degraded.stdout, degraded.stderr
    assert "has fewer replicas than REDIS_WAIT_REPLICAS=1" in degraded.stderr
    strict = {"REDIS_WAIT_STRICT": "True"}
    held = run_scrapy(sentinel_setup.url, *seed, stdin="https://example.com/b\n", settings=strict)
    assert held.returncode == 1 and "Seeded" not in held.stdout
    assert ("a write reached 0 of the 1 replicas REDIS_WAIT_REPLICAS asks for within 500 ms "
            "(REDIS_WAIT_STRICT: nothing counts as saved until the master has them)"
            in held.stderr)
    sentinel_setup.restore_replica()
    again = run_scrapy(sentinel_setup.url, *seed, stdin="https://example.com/b\n", settings=strict)
    assert again.returncode == 0 and "Seeded" in again.stdout, again.stderr


def test_without_wait_a_single_redis_pays_nothing(redis_url: str) -> None:
    client = connection.sync_client(config(redis_url), redis_url)
    client.config_resetstat()
    assert run_scrapy(redis_url, "seed", "site", "-",
                      stdin="https://example.com/\n").returncode == 0
    assert "cmdstat_wait" not in client.info("commandstats")
    client.close()

