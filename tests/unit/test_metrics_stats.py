"""Collectors: MetricCollector (several metrics, NaN-safe) and SpeechBrain MetricStats over one function."""

import io
import logging
import math

import pytest
import torch

from interpretability.metrics import (
    MetricCollector,
    average_drop,
    faithfulness_metrics,
    metric_stats,
    structure_metrics,
    topk_contains,
)
from speechbrain.utils.metric_stats import MetricStats


def test_collector_means_and_ff_median():
    collector = MetricCollector()
    assert isinstance(collector, MetricStats)
    collector.append(
        ["a", "b"],
        {"FF": torch.tensor([0.1, 0.4])},
        AI=torch.tensor([100.0, 0.0]),
    )
    collector.append(
        ["c", "d"], FF=torch.tensor([0.2, 0.3]), AI=torch.tensor([100.0, 100.0])
    )
    summary = collector.summarize()
    # FF: mean (0.1 + 0.4 + 0.2 + 0.3) / 4 = 0.25; median of 0.1 0.2 0.3 0.4 = (0.2 + 0.3) / 2 = 0.25
    # AI: (100 + 0 + 100 + 100) / 4 = 75
    assert summary == pytest.approx({"FF": 0.25, "AI": 75.0, "FF_median": 0.25})
    assert collector.summarize("AI") == pytest.approx(75.0)
    assert collector.per_clip()["b"] == pytest.approx({"FF": 0.4, "AI": 0.0})


def test_collector_skips_nan_and_logs_the_count(caplog):
    collector = MetricCollector()
    nan = float("nan")
    collector.append(
        ["a", "b", "c"],
        SPS=torch.tensor([0.2, nan, 0.6]),
        FF=torch.tensor([0.5, 0.1, 0.9]),
    )
    with caplog.at_level(
        logging.WARNING, logger="interpretability.metrics.stats"
    ):
        summary = collector.summarize()
    assert summary["SPS"] == pytest.approx(0.4)  # (0.2 + 0.6) / 2
    assert summary["FF_median"] == pytest.approx(
        0.5
    )  # odd count: the middle value
    assert "SPS: 1 of 3 values are NaN" in caplog.text
    all_nan = MetricCollector()
    all_nan.append(["a"], COMP=torch.tensor([float("nan")]))
    assert math.isnan(all_nan.summarize("COMP"))


def test_collector_takes_metric_dicts_and_writes_stats():
    p = torch.tensor([[0.5, 0.5], [0.8, 0.2]])
    p_in = torch.tensor([[0.75, 0.25], [0.4, 0.6]])
    p_out = torch.tensor([[0.25, 0.75], [0.7, 0.3]])
    decision = torch.tensor([0, 0])
    mask = torch.tensor([[[1.0, 0.0]], [[0.5, 0.5]]])
    collector = MetricCollector()
    collector.append(
        ["x", "y"],
        faithfulness_metrics(p, p_in, p_out, decision),
        structure_metrics(mask),
    )
    summary = collector.summarize()
    # AD: clip x 0 (an increase), clip y 100 * (0.8 - 0.4) / 0.8 = 50 -> mean 25
    # FF: 0.5 - 0.25 = 0.25 and 0.8 - 0.7 = 0.1 -> mean 0.175, median 0.175
    assert summary["AD"] == pytest.approx(25.0)
    assert summary["FF"] == pytest.approx(0.175) and summary[
        "FF_median"
    ] == pytest.approx(0.175)
    assert summary["MM"] == pytest.approx(0.5)
    assert set(summary) == {
        "AI",
        "AD",
        "AG",
        "FF",
        "FidIn",
        "SPS",
        "COMP",
        "MM",
        "FF_median",
    }
    stream = io.StringIO()
    collector.write_stats(stream)
    text = stream.getvalue()
    assert (
        "AD: 25" in text
        and "id,AI,AD,AG,FF,FidIn,SPS,COMP,MM" in text
        and "\ny,0," in text
    )


def test_collector_refuses_mismatched_lengths():
    with pytest.raises(ValueError, match="3 values for a batch of 2"):
        MetricCollector().append(["a", "b"], AI=torch.tensor([0.0, 1.0, 2.0]))


def test_speechbrain_metric_stats_over_one_function():
    stats = metric_stats(average_drop)
    # clip a: p_c 0.5 -> 0.25: AD = 100 * 0.25 / 0.5 = 50; clip b: 0.8 -> 0.8: AD = 0
    stats.append(
        ["a", "b"],
        torch.tensor([[0.5, 0.5], [0.2, 0.8]]),
        torch.tensor([[0.25, 0.75], [0.2, 0.8]]),
        torch.tensor([0, 1]),
    )
    summary = stats.summarize()
    assert summary["average"] == pytest.approx(25.0)
    assert summary["max_id"] == "a" and summary["min_id"] == "b"

    ag = metric_stats(faithfulness_metrics, key="AG")
    # p_c 0.5 -> 0.75: AG = 100 * 0.25 / 0.5 = 50
    ag.append(
        ["a"],
        torch.tensor([[0.5, 0.5]]),
        torch.tensor([[0.75, 0.25]]),
        torch.tensor([[0.5, 0.5]]),
        torch.tensor([0]),
    )
    assert ag.summarize("average") == pytest.approx(50.0)

    top2 = metric_stats(topk_contains, k=2)
    top2.append(
        ["a", "b"],
        torch.tensor([[0.1, 0.5, 0.4], [0.1, 0.5, 0.4]]),
        torch.tensor([2, 0]),
    )
    assert top2.summarize("average") == pytest.approx(0.5)

    needs_key = metric_stats(faithfulness_metrics)
    with pytest.raises(ValueError, match="key="):
        needs_key.append(
            ["a"],
            torch.tensor([[0.5, 0.5]]),
            torch.tensor([[0.75, 0.25]]),
            torch.tensor([[0.5, 0.5]]),
            torch.tensor([0]),
        )
