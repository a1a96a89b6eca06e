"""Classification metrics: accuracy, L2I's top-k and multi-label fidelity, and the SONYC-UST evaluation.

``dcase_auprc`` / ``micro_f1`` reimplement the DCASE 2019 / 2020 task 5 (SONYC-UST) coarse-level
evaluation of the official baselines (``metrics.py`` of sonyc-project/urban-sound-tagging-baseline and
sonyc-project/dcase2020task5-uststc-baseline):

- per class, the thresholds are every distinct predicted score >= 0.01, plus 1.0;
- at threshold t a score >= t is a positive prediction;
  ``P = TP / max(TP + FP, 0.5)``, ``R = TP / max(TP + FN, 0.5)`` (so P = 0 where nothing is predicted);
- the curve, ordered by increasing recall, is closed with (R, P) = (0, 1) before and (1, 0) after, and its
  area is taken with the trapezoid rule (``sklearn.metrics.auc``). Macro = the mean of the per-class areas;
  micro = the same on the TP / FP / FN counts summed over classes at every threshold (the union of the
  classes' thresholds), which is the curve of all (clip, class) scores flattened;
- micro-F1 = ``2 / (1/P + 1/R)`` of the micro counts at the first threshold >= 0.5, i.e. predictions
  ``score >= 0.5``; it is 0 when TP = 0.

Points of equal recall keep the order of decreasing threshold (precision falling as negatives are
added), which is exactly what the official per-class (macro) curve does. The official micro curve
instead sorts a table of increasing thresholds by recall with numpy's default, non-stable sort, so
the order of its equal-recall points depends on numpy's sort; the two micro values differ in the
fifth decimal on a test-set-sized problem (600 clips x 8 classes) and by up to ~0.04 on a handful of
clips. A class with no positive clip has AUPRC 0 there, as in the official code.

Ground-truth entries of -1 ("not annotated" in SONYC-UST) are masked out, never counted.
"""

import numpy as np
import torch

DCASE_MIN_THRESHOLD = 0.01
_FLOOR = 0.5


def _as_numpy(x, dtype=np.float64):
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        x = x.double() if x.dtype.is_floating_point else x.long()
        x = x.numpy()
    return np.asarray(x).astype(dtype)


def accuracy(logits_or_probs, labels):
    """1[argmax == label] per clip, ``[batch, classes]`` + ``[batch]`` -> ``[batch]`` float 0/1.

    Example
    -------
    >>> accuracy(torch.tensor([[0.1, 0.9], [0.8, 0.2]]), torch.tensor([1, 1]))
    tensor([1., 0.])
    """
    if logits_or_probs.dim() != 2 or labels.shape != (
        logits_or_probs.shape[0],
    ):
        raise ValueError(
            f"expected scores [batch, classes] and labels [batch], got {tuple(logits_or_probs.shape)} "
            f"and {tuple(labels.shape)}"
        )
    return (
        logits_or_probs.argmax(dim=1) == labels.to(logits_or_probs.device)
    ).float()


def topk_contains(scores, target_idx, k):
    """1 where ``target_idx`` is among the ``k`` highest scores of its row (L2I's top-k fidelity).

    Arguments
    ---------
    scores : torch.Tensor, ``[batch, classes]`` (e.g. Theta's outputs).
    target_idx : torch.Tensor, long, ``[batch]`` (e.g. the classifier's decision).
    k : int, clamped to the number of classes.

    Returns
    -------
    torch.Tensor, ``[batch]`` float 0/1. Ties at the k-th score are broken by ``torch.topk``.

    Example
    -------
    >>> scores = torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7]])
    >>> topk_contains(scores, torch.tensor([1, 0]), k=2)
    tensor([1., 0.])
    """
    if scores.dim() != 2 or target_idx.shape != (scores.shape[0],):
        raise ValueError(
            f"expected scores [batch, classes] and target_idx [batch], got {tuple(scores.shape)} "
            f"and {tuple(target_idx.shape)}"
        )
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    top = scores.topk(min(k, scores.shape[1]), dim=1).indices
    return (
        (top == target_idx.to(scores.device).long().unsqueeze(1))
        .any(dim=1)
        .float()
    )


def _check_multilabel(y_true, y_score):
    y_true = _as_numpy(y_true)
    y_score = _as_numpy(y_score)
    if y_true.ndim != 2 or y_true.shape != y_score.shape:
        raise ValueError(
            f"y_true and y_score must both be [clips, classes], got {y_true.shape} and {y_score.shape}"
        )
    if not np.isin(y_true, (-1, 0, 1)).all():
        raise ValueError(
            "y_true must hold 1 (present), 0 (absent) or -1 (not annotated)"
        )
    if y_score.size and (
        np.isnan(y_score).any() or y_score.min() < 0 or y_score.max() > 1
    ):
        raise ValueError("y_score must hold probabilities in [0, 1]")
    return y_true, y_score


def _dcase_curve(y_true, y_score, min_threshold=DCASE_MIN_THRESHOLD):
    """Thresholds (decreasing), TP, FP, FN, P, R of one flattened set of labels 0/1 and scores."""
    positive = y_true == 1
    thresholds = np.unique(np.append(y_score[y_score >= min_threshold], 1.0))[
        ::-1
    ]
    pos_scores = np.sort(y_score[positive])
    neg_scores = np.sort(y_score[~positive])
    tp = len(pos_scores) - np.searchsorted(pos_scores, thresholds, side="left")
    fp = len(neg_scores) - np.searchsorted(neg_scores, thresholds, side="left")
    fn = len(pos_scores) - tp
    precision = tp / np.maximum(tp + fp, _FLOOR)
    recall = tp / np.maximum(tp + fn, _FLOOR)
    return thresholds, tp, fp, fn, precision, recall


def _closed_curve_area(precision, recall):
    """Trapezoid area of the curve (0, 1) -> points by increasing recall -> (1, 0)."""
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.concatenate([[1.0], precision, [0.0]])
    return float(np.sum(np.diff(r) * (p[1:] + p[:-1]) / 2))


def dcase_auprc(y_true, y_score):
    """Micro and macro AUPRC as in the DCASE 2019/2020 task 5 evaluation (see the module docstring).

    Arguments
    ---------
    y_true : ``[clips, classes]`` 1 / 0 (-1 = not annotated, masked out).
    y_score : ``[clips, classes]`` predicted probabilities in [0, 1].

    Returns
    -------
    dict ``{"micro_auprc": float, "macro_auprc": float, "per_class_auprc": list of float}``

    Example
    -------
    >>> y_true = np.array([[1, 0], [0, 1], [1, -1]])
    >>> y_score = np.array([[0.9, 0.2], [0.3, 0.8], [0.7, 0.5]])
    >>> result = dcase_auprc(y_true, y_score)
    >>> round(result["micro_auprc"], 3), round(result["macro_auprc"], 3)
    (0.833, 0.625)
    """
    y_true, y_score = _check_multilabel(y_true, y_score)
    per_class = []
    for c in range(y_true.shape[1]):
        valid = y_true[:, c] != -1
        *_, precision, recall = _dcase_curve(
            y_true[valid, c], y_score[valid, c]
        )
        per_class.append(_closed_curve_area(precision, recall))
    valid = y_true != -1
    *_, precision, recall = _dcase_curve(y_true[valid], y_score[valid])
    return {
        "micro_auprc": _closed_curve_area(precision, recall),
        "macro_auprc": float(np.mean(per_class)) if per_class else float("nan"),
        "per_class_auprc": per_class,
    }


def micro_f1(y_true, y_score, threshold=0.5):
    """DCASE task 5 micro-F1: counts summed over classes with predictions ``score >= threshold``.

    ``F = 2 TP / (2 TP + FP + FN)``, 0 when TP = 0. Entries with ``y_true == -1`` are masked out.
    ``[clips, classes]`` x 2 -> float.

    Example
    -------
    >>> y_true = np.array([[1, 0], [0, 1], [1, -1]])
    >>> micro_f1(
    ...     y_true, np.array([[0.9, 0.6], [0.3, 0.8], [0.2, 0.5]])
    ... )  # TP 2, FP 1, FN 1
    0.6666666666666666
    """
    y_true, y_score = _check_multilabel(y_true, y_score)
    valid = y_true != -1
    truth = y_true[valid] == 1
    predicted = y_score[valid] >= threshold
    tp = int(np.sum(truth & predicted))
    fp = int(np.sum(~truth & predicted))
    fn = int(np.sum(truth & ~predicted))
    return 2 * tp / (2 * tp + fp + fn) if tp > 0 else 0.0


def dcase_metrics(y_true, y_score):
    """``dcase_auprc`` plus ``"micro_f1"`` (at 0.5), the three official SONYC-UST figures.

    Example
    -------
    >>> y_true = np.array([[1, 0], [0, 1]])
    >>> sorted(dcase_metrics(y_true, np.array([[0.9, 0.2], [0.3, 0.8]])))
    ['macro_auprc', 'micro_auprc', 'micro_f1', 'per_class_auprc']
    """
    result = dcase_auprc(y_true, y_score)
    result["micro_f1"] = micro_f1(y_true, y_score)
    return result


def multilabel_fidelity(theta_scores, classifier_decisions):
    """L2I's multi-label fidelity: Theta's sigmoid outputs scored against the classifier's decisions.

    Average precision (``sklearn.metrics.average_precision_score``): macro over the classes the
    classifier decided at least once (AP is undefined for the others), and micro on all entries
    flattened; ``max_f1`` is the best F1 over the thresholds of the flattened precision-recall curve.

    Arguments
    ---------
    theta_scores : ``[clips, classes]`` Theta's sigmoid outputs.
    classifier_decisions : ``[clips, classes]`` 0/1, the classifier's thresholded decisions.

    Returns
    -------
    dict ``{"macro_auprc", "micro_auprc", "max_f1"}`` of floats (NaN when nothing was decided).

    Example
    -------
    >>> decisions = np.array([[1, 0], [0, 1], [1, 1]])
    >>> fidelity = multilabel_fidelity(
    ...     np.array([[0.9, 0.1], [0.2, 0.7], [0.8, 0.6]]), decisions
    ... )
    >>> fidelity["macro_auprc"], fidelity["micro_auprc"], fidelity["max_f1"]
    (1.0, 1.0, 1.0)
    """
    from sklearn.metrics import average_precision_score, precision_recall_curve

    decisions = _as_numpy(classifier_decisions)
    scores = _as_numpy(theta_scores)
    if decisions.ndim != 2 or decisions.shape != scores.shape:
        raise ValueError(
            f"theta_scores and classifier_decisions must both be [clips, classes], got {scores.shape} "
            f"and {decisions.shape}"
        )
    if not np.isin(decisions, (0, 1)).all():
        raise ValueError(
            "classifier_decisions must hold 0 or 1 (threshold the classifier's outputs first)"
        )
    decided = decisions.sum(axis=0) > 0
    if not decided.any():
        nan = float("nan")
        return {"macro_auprc": nan, "micro_auprc": nan, "max_f1": nan}
    macro = average_precision_score(
        decisions[:, decided], scores[:, decided], average="macro"
    )
    micro = average_precision_score(decisions.ravel(), scores.ravel())
    precision, recall, _ = precision_recall_curve(
        decisions.ravel(), scores.ravel()
    )
    denominator = precision + recall
    f1 = np.where(
        denominator > 0,
        2 * precision * recall / np.where(denominator > 0, denominator, 1),
        0.0,
    )
    return {
        "macro_auprc": float(macro),
        "micro_auprc": float(micro),
        "max_f1": float(f1.max()),
    }
