"""The frontier load generator (``benchmarks/frontier_load.py``) runs on its own single
Redis and 3-master cluster, its simulated crawl does every page it was asked to, and the
frontier under that load pops every URL pushed exactly once (no timing is checked)."""

from __future__ import annotations

from pathlib import Path

from benchmarks import frontier_load

PAGES = 300


def test_the_load_generator_pops_every_url_pushed_exactly_once(tmp_path: Path) -> None:
    args = frontier_load.parse(["--pages", str(PAGES), "--domains", "40", "--nodes", "3",
                                "--repeat", "1", "--check"])
    results = frontier_load.run_all(args, tmp_path)
    assert list(results) == ["single", "cluster"]
    for name, (run,) in results.items():
        assert run.pages == PAGES, name
        assert (run.popped_twice, run.never_popped) == (0, 0), name
        assert run.links == PAGES * 10 and 0 < run.new_urls < run.links, name
        figures = run.figures()
        assert 0 < figures["round trips/page"] < 1, f"{name}: rounds carry several pages"
        assert figures["Redis CPU ms/page"] > 0 and figures["commands/page"] > 1, name
    cluster = results["cluster"][0]
    assert len(cluster.masters) == len(cluster.replicas) == 3
    assert sum(cluster.keys.values()) > 0 and results["single"][0].replicas == {}
    lines = frontier_load.report(results, frontier_load.shape_of(args), 1, [])
    assert any(line.startswith("| single | 300 |") for line in lines), lines
    assert any(line.startswith("| cluster | 300 |") for line in lines), lines


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
