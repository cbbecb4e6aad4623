"""The frontier load generator (``benchmarks/frontier_load.py``) runs on its own single
Redis and 3-master cluster (the crawl in one partition, and in the default 64), its
simulated crawl does every page it was asked to, and the frontier under that load pops
every URL pushed exactly once (no timing is checked)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import frontier_load

PAGES = 300


def test_the_load_generator_pops_every_url_pushed_exactly_once(tmp_path: Path) -> None:
    args = frontier_load.parse(["--pages", str(PAGES), "--domains", "40", "--nodes", "3",
                                "--repeat", "1", "--check"])
    results = frontier_load.run_all(args, tmp_path)
    assert list(results) == ["single", "cluster P=1", "cluster P=64"]
    for name, (run,) in results.items():
        assert run.pages == PAGES, name
        assert (run.popped_twice, run.never_popped) == (0, 0), name
        assert run.links == PAGES * 10 and 0 < run.new_urls < run.links, name
        figures = run.figures()
        assert 0 < figures["round trips/page"] < 1, f"{name}: rounds carry several pages"
        assert figures["Redis CPU ms/page"] > 0 and figures["commands/page"] > 1, name
    assert [run.partitions for (run,) in results.values()] == [1, 1, 64]
    assert results["single"][0].replicas == {}
    (one,), (spread,) = results["cluster P=1"], results["cluster P=64"]
    assert len(one.masters) == len(one.replicas) == 3
    assert sorted(n > 0 for n in one.keys.values()) == [False, False, True], \
        "one partition: the crawl on one master"
    assert all(n > 0 for n in spread.keys.values()), "64 partitions: on every master"
    assert spread.figures()["scripts/page"] > one.figures()["scripts/page"] > 0
    lines = frontier_load.report(results, frontier_load.shape_of(args), 1, [])
    for name in results:
        assert any(line.startswith(f"| {name} | 300 |") for line in lines), lines
        assert f"{name}, --check: 0 URLs popped twice, 0 never popped" in lines


def test_a_crawl_whose_queue_runs_dry_ends_and_says_so(tmp_path: Path) -> None:
    """No new links and 10 domains of 5 top pages: at most 50 pages, then nothing to pop."""
    args = frontier_load.parse(["--pages", str(PAGES), "--domains", "10", "--new-links", "0",
                                "--repeat", "1", "--only", "single", "--check"])
    results = frontier_load.run_all(args, tmp_path)
    (run,) = results["single"]
    assert run.pages == 10 + run.new_urls <= 50, "every URL found (and the seeds) done"
    assert (run.pending, run.popped_twice, run.never_popped) == (0, 0, 0)
    lines = frontier_load.report(results, frontier_load.shape_of(args), 1, [])
    assert f"single: the queue ran dry after {run.pages} pages (!)" in lines


def test_the_cluster_runs_once_a_number_of_partitions_and_refuses_a_bad_one(
        capsys: pytest.CaptureFixture[str]) -> None:
    """0 is the default (64 on 3 masters): asking 0 and 64 runs the cluster once."""
    args = frontier_load.parse(["--partitions", "0, 64,1"])
    cluster = frontier_load.Target("cluster", "redis://127.0.0.1:1", [1, 2, 3])
    runs = frontier_load.runs_of(cluster, args.partitions)
    assert [run.label for run in runs] == ["cluster P=64", "cluster P=1"]
    with pytest.raises(SystemExit):
        frontier_load.parse(["--partitions", "1,3"])
    assert "--partitions='3' must be 0 (the default) or a power of two from 1 to 4096" \
        in capsys.readouterr().err
