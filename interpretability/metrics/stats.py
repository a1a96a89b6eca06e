"""Accumulate per-clip metrics over an evaluation set, SpeechBrain style.

``MetricCollector`` takes the dicts of ``[batch]`` tensors that the metric functions return, batch by
batch with the clip ids, and summarises them as means (plus FF's median), skipping NaN values and
logging how many it skipped. ``metric_stats`` wraps one metric function in SpeechBrain's own
``MetricStats``.
"""

import logging
import math

import torch

from speechbrain.utils.metric_stats import MetricStats

logger = logging.getLogger(__name__)


def _to_floats(name, values, batch_size):
    if isinstance(values, torch.Tensor):
        values = values.detach().to("cpu", torch.float64).reshape(-1).tolist()
    else:
        values = [float(v) for v in values]
    if len(values) != batch_size:
        raise ValueError(
            f"metric {name} has {len(values)} values for a batch of {batch_size} ids"
        )
    return values


class MetricCollector(MetricStats):
    """Collects several per-clip metrics and summarises each as its mean (NaN skipped).

    Arguments
    ---------
    median_keys : iterable of str, metrics whose median is also reported as ``<key>_median``
        (default: FF, whose median L2I reports).

    Example
    -------
    >>> collector = MetricCollector()
    >>> collector.append(
    ...     ["a", "b"],
    ...     {"FF": torch.tensor([0.25, 0.75])},
    ...     AI=torch.tensor([100.0, 0.0]),
    ... )
    >>> collector.summarize()
    {'FF': 0.5, 'AI': 50.0, 'FF_median': 0.5}
    """

    def __init__(self, median_keys=("FF",)):
        self.median_keys = tuple(median_keys)
        super().__init__(metric=None)

    def clear(self):
        """Forget every stored value."""
        self.ids = []
        self.values = {}  # name -> list of floats, in the order of self.value_ids[name]
        self.value_ids = {}
        self.summary = {}

    def append(self, ids, *metric_dicts, **metrics):
        """Store one batch of per-clip values.

        Arguments
        ---------
        ids : list of str, the clip ids of the batch.
        *metric_dicts : dicts ``{name: [batch]}`` as returned by the metric functions.
        **metrics : more ``name=[batch]`` values.
        """
        ids = list(ids)
        merged = {}
        for metric_dict in (*metric_dicts, metrics):
            merged.update(metric_dict)
        converted = {
            name: _to_floats(name, values, len(ids))
            for name, values in merged.items()
        }
        self.ids.extend(ids)
        for name, values in converted.items():
            self.values.setdefault(name, []).extend(values)
            self.value_ids.setdefault(name, []).extend(ids)

    def summarize(self, field=None):
        """Mean of every metric (NaN skipped, their number logged) and ``<key>_median`` for the median keys.

        Returns
        -------
        dict of floats, or one float when ``field`` is given. A metric with no finite value is NaN.
        """
        summary = {}
        medians = {}
        for name, values in self.values.items():
            kept = torch.tensor(
                [v for v in values if not math.isnan(v)], dtype=torch.float64
            )
            skipped = len(values) - len(kept)
            if skipped:
                logger.warning(
                    "%s: %d of %d values are NaN and were left out",
                    name,
                    skipped,
                    len(values),
                )
            summary[name] = float(kept.mean()) if len(kept) else float("nan")
            if name in self.median_keys:
                medians[f"{name}_median"] = (
                    float(kept.quantile(0.5)) if len(kept) else float("nan")
                )
        summary.update(medians)
        self.summary = summary
        return summary[field] if field is not None else summary

    def per_clip(self):
        """``{id: {name: value}}`` of every stored value."""
        table = {}
        for name, ids in self.value_ids.items():
            for clip_id, value in zip(ids, self.values[name]):
                table.setdefault(clip_id, {})[name] = value
        return table

    def write_stats(self, filestream, verbose=False):
        """Write the summary, then one line per clip, to ``filestream``."""
        summary = self.summarize()
        lines = [f"{name}: {value:.6g}" for name, value in summary.items()]
        names = list(self.values)
        lines.append("id," + ",".join(names))
        for clip_id, row in self.per_clip().items():
            lines.append(
                ",".join(
                    [str(clip_id)]
                    + [f"{row[n]:.6g}" if n in row else "" for n in names]
                )
            )
        text = "\n".join(lines) + "\n"
        filestream.write(text)
        if verbose:
            logger.info(text)


def per_clip_metric(fn, key=None, **fixed_kwargs):
    """Adapt a metric function to SpeechBrain's ``MetricStats``: detached CPU float ``[batch]`` scores.

    Arguments
    ---------
    fn : callable returning ``[batch]`` or a dict of ``[batch]`` (then ``key`` picks one).
    key : str, the entry to keep when ``fn`` returns a dict.
    **fixed_kwargs : keyword arguments always passed to ``fn`` (e.g. ``k=3``).

    Example
    -------
    >>> from interpretability.metrics.structure import structure_metrics
    >>> sparseness = per_clip_metric(structure_metrics, key="SPS")
    >>> sparseness(torch.tensor([[[0.0, 0.0, 0.0, 1.0]]]))
    tensor([0.7500], dtype=torch.float64)
    """

    def metric(*args, **kwargs):
        scores = fn(*args, **fixed_kwargs, **kwargs)
        if isinstance(scores, dict):
            if key is None:
                raise ValueError(
                    f"{fn.__name__} returns several metrics {list(scores)}: choose one with key="
                )
            scores = scores[key]
        return scores.detach().to("cpu", torch.float64).reshape(-1)

    metric.__name__ = f"{fn.__name__}[{key}]" if key else fn.__name__
    return metric


def metric_stats(fn, key=None, **fixed_kwargs):
    """SpeechBrain ``MetricStats`` over one metric function.

    ``stats.append(ids, *args, **kwargs)`` calls ``fn(*args, **kwargs)`` and stores one score per id;
    ``stats.summarize()`` gives SpeechBrain's average / min / max (NaN is not skipped there: use
    ``MetricCollector`` when a metric can be undefined).

    Example
    -------
    >>> from interpretability.metrics.faithfulness import average_drop
    >>> stats = metric_stats(average_drop)
    >>> p = torch.tensor([[0.5, 0.5]])
    >>> p_in = torch.tensor([[0.75, 0.25]])
    >>> stats.append(["clip"], p, p_in, torch.tensor([1]))
    >>> stats.summarize("average")
    50.0
    """
    return MetricStats(metric=per_clip_metric(fn, key, **fixed_kwargs))
