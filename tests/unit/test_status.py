"""The status model's arithmetic: the rate, the ETA and the chart from the sampled series."""

from __future__ import annotations

from crawler.ops import status_model
from crawler.ops.status_model import Sample


def sample(t: float, remaining: int, done: int) -> Sample:
    return Sample(t=t, queued=remaining, leased=0, seeds=0, done=done, items=done)


def test_rate_and_eta_come_from_the_series() -> None:
    history = [sample(1000 + 10 * i, 500 - 20 * i, 30 * i) for i in range(10)]  # t 1000..1090
    now = sample(1095, 310, 285)
    ppm, eta = status_model.progress(history, now, live_ppm=999)
    # rate from the oldest sample at most 70 s old (t=1030, done=90): 195 in 65 s
    assert ppm == round(195 * 60 / 65, 1)
    # ETA from the oldest at most 40 s old (t=1060, 380 left): 70 fewer in 35 s
    assert eta == round(310 / (70 / 35))
    growing = [sample(t, 100 + t - 1000, 0) for t in (1000, 1010, 1020)]
    assert status_model.progress(growing, sample(1025, 200, 0), live_ppm=0)[1] is None
    assert status_model.progress(history[-1:], sample(1092, 300, 0), live_ppm=42.5) == (42.5, None)


def test_the_chart_breaks_where_no_node_was_sampling() -> None:
    old = [sample(0, 50, 0), sample(10, 40, 60)]
    recent = [sample(300, 30, 60), sample(310, 20, 120)]
    now = sample(316, 10, 150)
    points = status_model.chart([now, *reversed(old + recent)])
    assert [p["t"] for p in points] == [-316, -306, -16, -6, 0]
    assert [p["ppm"] for p in points] == [None, 360.0, None, 360.0, 300.0]
    assert [p["gap"] for p in points] == [False, False, True, False, False]
    assert [p["queued"] for p in points] == [50, 40, 30, 20, 10]
    hour_ago = sample(316 - 3700, 99, 0)
    assert status_model.chart([now, *reversed(old + recent), hour_ago])[0]["t"] == -316
    just_after = status_model.chart([sample(312, 15, 130), *reversed(recent)])
    assert [(p["t"], p["ppm"], p["queued"]) for p in just_after] == [
        (-12, None, 30), (-2, 360.0, 20), (0, None, 15)], "a rate over 2 s is noise"
