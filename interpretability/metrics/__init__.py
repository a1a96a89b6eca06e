"""Metrics shared by every method: plain functions on tensors (per clip, ``[batch]``) and collectors.

See docs/methods.md, "Metrics", "Ground truth" and "Sanity checks".

``interpretability.metrics.faithfulness`` is the FF function once this package is imported; reach the
module's other names with ``from interpretability.metrics.faithfulness import ...`` (or from here).
"""

from .classification import (
    accuracy,
    dcase_auprc,
    dcase_metrics,
    micro_f1,
    multilabel_fidelity,
    topk_contains,
)
from .faithfulness import (
    average_drop,
    average_drop_from_scores,
    average_gain,
    average_gain_from_scores,
    average_increase,
    average_increase_from_scores,
    binary_to_two_class,
    class_scores,
    faithfulness,
    faithfulness_from_scores,
    faithfulness_metrics,
    faithfulness_metrics_from_scores,
    input_fidelity,
    input_fidelity_from_scores,
)
from .ground_truth import mask_overlap, oracle_mask, oracle_overlap, si_sdr
from .sanity import mask_rank_correlation
from .stats import MetricCollector, metric_stats, per_clip_metric
from .structure import complexity, mask_mean, sparseness, structure_metrics

__all__ = [
    "accuracy",
    "dcase_auprc",
    "dcase_metrics",
    "micro_f1",
    "multilabel_fidelity",
    "topk_contains",
    "average_drop",
    "average_drop_from_scores",
    "average_gain",
    "average_gain_from_scores",
    "average_increase",
    "average_increase_from_scores",
    "binary_to_two_class",
    "class_scores",
    "faithfulness",
    "faithfulness_from_scores",
    "faithfulness_metrics",
    "faithfulness_metrics_from_scores",
    "input_fidelity",
    "input_fidelity_from_scores",
    "mask_overlap",
    "oracle_mask",
    "oracle_overlap",
    "si_sdr",
    "mask_rank_correlation",
    "MetricCollector",
    "metric_stats",
    "per_clip_metric",
    "complexity",
    "mask_mean",
    "sparseness",
    "structure_metrics",
]
