"""A round of a crawl of several partitions, without a server: lease ids carry their
partition, the pop walk picks and backs off partitions, a round's calls go each to its
partition's keys."""

from __future__ import annotations

import random
from typing import Any

import pytest
import redis.asyncio
from scrapy.settings import Settings

from crawler.errors import ConfigError
from crawler.frontier import lease_ids, scripts
from crawler.frontier.exchange import Frontier
from crawler.frontier.fingerprints import describe, layout_from_json
from crawler.frontier.formats import KIND_REQUEST, Entry
from crawler.frontier.partitions import partition_of
from crawler.frontier.pop_walk import MAX_BACKOFF, PopWalk
from crawler.frontier.round import ClusterView, Outgoing, Push
from crawler.node.config import FrontierConfig
from crawler.node.membership import crawl_finished
from crawler.redis.keys import CrawlKeys

KEYS = CrawlKeys("crawl", "t")


def test_a_lease_id_names_its_partition_but_partition_zeros() -> None:
    assert lease_ids.tagged(0, "0000000000000007") == "0000000000000007"
    assert lease_ids.tagged(5, "0000000000000007") == "5/0000000000000007"
    assert lease_ids.split("5/0000000000000007") == (5, "0000000000000007")
    assert lease_ids.split("0000000000000007") == (0, "0000000000000007")
    assert lease_ids.by_partition(["1", "3/2", "3/4", "5"]) == {0: ["1", "5"], 3: ["2", "4"]}
    assert lease_ids.pairs_by_partition([("2/9", "why")]) == {2: [("9", "why")]}


def test_a_walk_pops_a_partition_per_sixteen_wanted_from_its_own_start() -> None:
    walk = PopWalk(8, random.Random(1))
    first = walk.choose(64, now=0.0)
    assert [n for _, n in first] == [16, 16, 16, 16]
    second = walk.choose(64, now=0.0)
    assert {p for p, _ in first} | {p for p, _ in second} == set(range(8))
    assert walk.choose(5, now=0.0) == [((second[-1][0] + 1) % 8, 5)]
    assert PopWalk(1).choose(64) == [(0, 64)]


def test_a_walk_skips_an_empty_partition_with_a_doubling_backoff_until_a_push() -> None:
    walk = PopWalk(2, random.Random(1))
    walk.popped(0, nothing_queued=True, now=0.0)
    assert walk.choose(32, now=0.0) == [(1, 32)]  # all of it from the other one
    walk.popped(1, nothing_queued=True, now=0.0)
    walk.popped(1, nothing_queued=True, now=0.0)  # backed off twice: longer
    assert walk.choose(32, now=0.1) == [(0, 32)]  # all backed off: the first to come back
    for _ in range(20):
        walk.popped(0, nothing_queued=True, now=0.0)
    assert walk.choose(32, now=MAX_BACKOFF - 0.01) == [(1, 32)]
    assert walk.choose(32, now=MAX_BACKOFF) == [(0, 16), (1, 16)]
    walk.popped(0, nothing_queued=True, now=100.0)
    walk.pushed_into(0)
    assert {p for p, _ in walk.choose(32, now=100.0)} == {0, 1}


def test_each_heartbeat_reclaims_in_the_next_eighth_of_the_partitions() -> None:
    walk = PopWalk(16, random.Random(3))
    seen = [walk.to_reclaim() for _ in range(8)]
    assert all(len(s) == 2 for s in seen)
    assert sorted(p for s in seen for p in s) == list(range(16))  # each once in 8 beats


class Recorder:
    """A pipeline that keeps the calls queued on it."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def execute_command(self, *args: Any, **options: Any) -> None:
        self.calls.append(args)

    def hmget(self, *args: Any) -> None:
        self.calls.append(("HMGET", *args))

    def hlen(self, *args: Any) -> None:
        self.calls.append(("HLEN", *args))


def frontier(partitions: int) -> Frontier:
    f = Frontier(redis.asyncio.Redis(), KEYS, "priority", "n1", 60, 3)
    f._set_partitions(partitions)
    f.layouts = [layout_from_json(k, describe("exact", 16, 0, 0), 0, partitions)
                 for k in KEYS.every_partition(partitions)]
    return f


def script_calls(pipe: Recorder) -> list[tuple[str, list[str]]]:
    """(script name, KEYS) of each EVALSHA queued."""
    names = {s.sha: s.name for s in scripts.ALL}
    return [(names[c[1]], list(c[3:3 + int(c[2])])) for c in pipe.calls if c[0] == "EVALSHA"]


def test_a_round_goes_to_each_partition_on_its_own_keys() -> None:
    f = frontier(8)
    domains = [f"h{i}.example" for i in range(40)]
    pushes = [Push(bytes(20), 0, d, b"x") for d in domains]
    out = Outgoing(pushes=pushes, acks=["3/0000000000000001", "0000000000000002"],
                   failed=[("5/0000000000000003", "boom")], release=["7/0000000000000004"],
                   renew=["3/0000000000000001"], crawl_delays={domains[0]: 2.0},
                   dead=[(Entry("6/0000000000000005", KIND_REQUEST, "d", b"p"), "bad")])
    pipe = Recorder()
    plan, durable = f._queue_all(pipe, out)
    calls = script_calls(pipe)
    for (name, keys), step in zip(calls, plan, strict=True):
        tag = KEYS.in_partition(step.partition).tag
        assert all(f"{{{tag}}}" in k for k in keys), (name, keys)
    pushed = {step.partition: list(step.pushes) for step in plan if step.pushes}
    assert {p: {domains[i] for i in ids} for p, ids in pushed.items()} == {
        p: {d for d in domains if partition_of(d, 8) == p} for p in pushed}
    acks = {s.partition for s in plan if s.name == "push+acks"}
    assert {0, 3, 6} <= acks  # the acks' and the dead letter's partitions
    assert [(s.name, s.partition) for s in plan if s.name in ("failed", "release", "renew")] \
        == [("failed", 5), ("release", 7), ("renew", 3)]
    released = next(c for c in pipe.calls if c[0] == "EVALSHA" and "ids" in c)
    assert released[-1] == "0000000000000004"  # the bare id
    assert sorted(durable) == sorted({KEYS.in_partition(p).stats for p in pushed} |
                                     {KEYS.in_partition(6).stats})


def test_one_partition_sends_what_it_always_sent() -> None:
    f = frontier(1)
    out = Outgoing(pushes=[Push(bytes(20), 0, "a.example", b"x")], acks=["0000000000000002"],
                   pop=10, heartbeat={}, reclaim=True)
    pipe = Recorder()
    plan, durable = f._queue_all(pipe, out)
    assert [s.name for s in plan] == ["push+acks", "reclaim", "pop", "heartbeat"]
    assert durable == [KEYS.stats] and not any(c[0] in ("HMGET", "HLEN") for c in pipe.calls)
    assert all(f"{{{KEYS.crawl}}}" in k for _, keys in script_calls(pipe) for k in keys)


def test_acks_ride_in_the_pop_of_a_round_that_saves_nothing() -> None:
    # With no pushes, dead letters or reclaim, a partition's acks go in its pop (one script
    # less); anything to save keeps them in push.lua, with the children they wait for.
    acks = ["0000000000000002", "0000000000000003"]
    f = frontier(1)
    pipe = Recorder()
    plan, _ = f._queue_all(pipe, Outgoing(acks=acks, pop=10))
    assert [s.name for s in plan] == ["pop+acks"] and script_calls(pipe)[0][0] == "pop"
    assert pipe.calls[0][-1] == " ".join(acks)
    for out in (Outgoing(acks=acks, pop=10, pushes=[Push(bytes(20), 0, "a.example", b"x")]),
                Outgoing(acks=acks, pop=10, reclaim=True),
                Outgoing(acks=acks, pop=10,
                         dead=[(Entry("0000000000000005", KIND_REQUEST, "d", b"p"), "bad")]),
                Outgoing(acks=acks)):
        pipe = Recorder()
        plan, _ = f._queue_all(pipe, out)
        assert plan[0].name == "push+acks" and "pop+acks" not in [s.name for s in plan]
        assert all(c[-1] == "" for c in pipe.calls if c[1] == scripts.POP.sha)
    f = frontier(8)  # with partitions: the acks of the partition the pop goes to
    plan, _ = f._queue_all(Recorder(), Outgoing(
        acks=[lease_ids.tagged(p, f"{p:016d}") for p in range(8)], pop=1))
    popped = next(s.partition for s in plan if s.name.startswith("pop"))
    assert sorted((s.name, s.partition) for s in plan) == sorted(
        [("pop+acks", popped)] + [("push+acks", p) for p in range(8) if p != popped])


def test_only_partition_zeros_pop_reads_the_seeds() -> None:
    f = frontier(4)
    pipe = Recorder()
    plan, _ = f._queue_all(pipe, Outgoing(pop=64))
    pops = [keys for name, keys in script_calls(pipe) if name == "pop"]
    assert len(pops) == 4
    for step, keys in zip(plan, pops, strict=True):
        assert (keys[3] == KEYS.start_urls) == (step.partition == 0)


def view(parts: tuple[tuple[int, int, int], ...] | None, busy_until: float = 0.0) -> ClusterView:
    total = parts or ()
    return ClusterView(10.0, sum(p[0] for p in total), sum(p[1] for p in total), 0,
                       sum(p[2] for p in total), "", busy_until, parts)


def test_a_crawl_of_partitions_ends_after_two_equal_empty_reads() -> None:
    done = ((0, 0, 5), (0, 0, 7))
    assert not crawl_finished(view(done), 2.0)  # one read
    assert crawl_finished(view(done), 2.0, view(done))
    assert not crawl_finished(view(done), 2.0, view(((0, 0, 5), (0, 0, 6))))  # moved
    assert not crawl_finished(view(done), 2.0, view(None))  # a read failed
    assert not crawl_finished(view(None), 2.0, view(done))
    assert not crawl_finished(view(((0, 1, 5), (0, 0, 7))), 2.0, view(((0, 1, 5), (0, 0, 7))))
    assert crawl_finished(ClusterView(10.0, 0, 0, 0, 5, "", 0.0), 2.0)  # one: today's rule


@pytest.mark.parametrize("value", ["3", "many", "8192"])
def test_a_bad_partition_count_is_refused_naming_the_setting(value: str) -> None:
    with pytest.raises(ConfigError, match=r"^setting SCHEDULER_PARTITIONS='?"
                                          rf"{value}'? must be 0 \(the default\)"):
        FrontierConfig.from_settings(Settings({"SCHEDULER_PARTITIONS": value}))
    assert FrontierConfig.from_settings(Settings({"SCHEDULER_PARTITIONS": "8"})).partitions == 8
