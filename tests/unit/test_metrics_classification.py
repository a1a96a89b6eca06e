"""Classification metrics: accuracy, top-k, the DCASE task 5 (SONYC-UST) evaluation, L2I fidelity."""

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, f1_score

from interpretability.metrics import (
    accuracy,
    dcase_auprc,
    dcase_metrics,
    micro_f1,
    multilabel_fidelity,
    topk_contains,
)

# 4 clips, 2 classes. Class 1's 0.6 appears twice (a tie), class 0's 0.005 is below the 0.01 floor.
Y_TRUE = np.array([[1, 0], [0, 1], [1, 0], [0, 0]])
Y_SCORE = np.array([[0.9, 0.6], [0.8, 0.7], [0.3, 0.6], [0.005, 0.2]])


def test_accuracy_and_topk():
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]])
    assert torch.equal(
        accuracy(logits, torch.tensor([0, 0, 0])), torch.tensor([1.0, 0.0, 1.0])
    )
    scores = torch.tensor(
        [[0.1, 0.5, 0.3, 0.05, 0.05], [0.6, 0.1, 0.1, 0.1, 0.1]]
    )
    target = torch.tensor([2, 0])
    assert torch.equal(
        topk_contains(scores, target, 1), torch.tensor([0.0, 1.0])
    )  # top-1 of clip 0 is 1
    assert torch.equal(
        topk_contains(scores, target, 2), torch.tensor([1.0, 1.0])
    )  # top-2 is {1, 2}
    assert torch.equal(
        topk_contains(scores, target, 10), torch.tensor([1.0, 1.0])
    )  # k clamped to 5
    with pytest.raises(ValueError):
        topk_contains(scores, target, 0)


def test_dcase_hand_computed():
    result = dcase_auprc(Y_TRUE, Y_SCORE)
    # Class 0, 2 positives; thresholds 1.0, 0.9, 0.8, 0.3 (0.005 < 0.01 is not a threshold):
    #   t=1.0: TP 0 FP 0 -> P = 0/0.5 = 0, R = 0;  t=0.9: TP 1 FP 0 -> (R, P) = (1/2, 1)
    #   t=0.8: TP 1 FP 1 -> (1/2, 1/2);             t=0.3: TP 2 FP 1 -> (1, 2/3)
    #   curve (0,1) (0,0) (1/2,1) (1/2,1/2) (1,2/3) (1,0):
    #   area = 1/2 * (0 + 1)/2 + 1/2 * (1/2 + 2/3)/2 = 1/4 + 7/24 = 13/24
    # Class 1, 1 positive; thresholds 1.0, 0.7, 0.6, 0.2:
    #   (0,0), (1,1), (1,1/3), (1,1/4) -> area = 1 * (0 + 1)/2 = 1/2
    assert result["per_class_auprc"] == pytest.approx([13 / 24, 1 / 2])
    assert result["macro_auprc"] == pytest.approx(
        (13 / 24 + 1 / 2) / 2
    )  # 25/48
    # Micro: all 8 entries, 3 positives; thresholds 1.0, 0.9, 0.8, 0.7, 0.6, 0.3, 0.2:
    #   (0,0) (1/3,1) (1/3,1/2) (2/3,2/3) (2/3,2/5) (1,1/2) (1,3/7)
    #   area = 1/3 * 1/2 + 1/3 * (1/2 + 2/3)/2 + 1/3 * (2/5 + 1/2)/2 = 1/6 + 7/36 + 3/20 = 23/45
    assert result["micro_auprc"] == pytest.approx(23 / 45)
    # Micro-F1 at 0.5: predicted 0.9 (TP), 0.8 (FP), 0.6 (FP), 0.7 (TP), 0.6 (FP); FN = the 0.3
    #   TP 2, FP 3, FN 1 -> P = 2/5, R = 2/3, F = 2 / (5/2 + 3/2) = 1/2
    assert micro_f1(Y_TRUE, Y_SCORE) == pytest.approx(0.5)
    assert dcase_metrics(torch.tensor(Y_TRUE), torch.tensor(Y_SCORE))[
        "micro_f1"
    ] == pytest.approx(0.5)


def test_dcase_curve_endpoints_and_floor():
    # A perfect ranking of one positive still starts from (0, 0) at threshold 1.0: area = 1 * (0 + 1)/2.
    assert dcase_auprc([[1], [0], [0]], [[0.9], [0.2], [0.1]])[
        "micro_auprc"
    ] == pytest.approx(0.5)
    # A positive scored below 0.01 is never predicted: (0,1) (0,0) (0,0) (1,0) -> area 0 ...
    assert dcase_auprc([[1], [0]], [[0.005], [0.5]])[
        "macro_auprc"
    ] == pytest.approx(0.0)
    # ... at 0.02 it is: t = 0.02 gives TP 1 FP 1 -> (1, 1/2): area = 1 * (0 + 1/2)/2 = 1/4
    assert dcase_auprc([[1], [0]], [[0.02], [0.5]])[
        "macro_auprc"
    ] == pytest.approx(0.25)
    # A class without positives has area 0, as in the official code.
    assert dcase_auprc([[0], [0]], [[0.3], [0.5]])["per_class_auprc"] == [0.0]


def test_dcase_masks_unannotated_entries():
    # An extra clip: class 0 not annotated (-1) with a high score, class 1 a negative at 0.1.
    y_true = np.vstack([Y_TRUE, [[-1, 0]]])
    y_score = np.vstack([Y_SCORE, [[0.95, 0.1]]])
    # The masked 0.95 is ignored; a negative below every positive adds (1, P) points only: same areas.
    result = dcase_auprc(y_true, y_score)
    assert result["per_class_auprc"] == pytest.approx([13 / 24, 1 / 2])
    assert result["micro_auprc"] == pytest.approx(23 / 45)
    # Counted as a negative instead, the 0.95 would lower both.
    y_true[-1, 0] = 0
    assert dcase_auprc(y_true, y_score)["micro_auprc"] < 23 / 45 - 0.05
    assert micro_f1(np.vstack([Y_TRUE, [[-1, 0]]]), y_score) == pytest.approx(
        0.5
    )


def _brute_force_dcase(y_true, y_score):
    """The task 5 definition, written with loops: one threshold at a time, trapezoids by hand."""

    def area(y, s):
        thresholds = sorted({v for v in s if v >= 0.01} | {1.0}, reverse=True)
        points = [(0.0, 1.0)]
        for t in thresholds:
            tp = sum(1 for yi, si in zip(y, s) if si >= t and yi == 1)
            fp = sum(1 for yi, si in zip(y, s) if si >= t and yi == 0)
            fn = sum(1 for yi, si in zip(y, s) if si < t and yi == 1)
            points.append((tp / max(tp + fn, 0.5), tp / max(tp + fp, 0.5)))
        points.append((1.0, 0.0))
        return sum(
            (r1 - r0) * (p0 + p1) / 2
            for (r0, p0), (r1, p1) in zip(points, points[1:])
        )

    per_class = [
        area(y_true[:, c], y_score[:, c]) for c in range(y_true.shape[1])
    ]
    return area(y_true.ravel(), y_score.ravel()), float(np.mean(per_class))


def test_dcase_matches_loop_definition_and_is_close_to_sklearn():
    rng = np.random.default_rng(0)
    y_true = (rng.random((120, 4)) < 0.3).astype(int)
    logits = rng.normal(size=(120, 4)) + 2.0 * y_true - 1.0
    y_score = np.round(
        1 / (1 + np.exp(-logits)), 2
    )  # rounding makes tied scores
    result = dcase_auprc(y_true, y_score)
    micro, macro = _brute_force_dcase(y_true, y_score)
    assert result["micro_auprc"] == pytest.approx(micro, abs=1e-12)
    assert result["macro_auprc"] == pytest.approx(macro, abs=1e-12)
    # Close to, not equal to, average precision (trapezoids, 0.01 floor, (0,0) start).
    micro_ap = average_precision_score(y_true.ravel(), y_score.ravel())
    macro_ap = average_precision_score(y_true, y_score, average="macro")
    assert result["micro_auprc"] == pytest.approx(micro_ap, abs=0.05)
    assert result["macro_auprc"] == pytest.approx(macro_ap, abs=0.05)
    assert micro_f1(y_true, y_score) == pytest.approx(
        f1_score(y_true.ravel(), y_score.ravel() >= 0.5)
    )


def test_dcase_refuses_bad_input():
    with pytest.raises(ValueError, match="probabilities"):
        dcase_auprc(Y_TRUE, Y_SCORE * 3)
    with pytest.raises(ValueError, match="-1"):
        dcase_auprc(Y_TRUE * 2, Y_SCORE)
    with pytest.raises(ValueError, match="clips, classes"):
        micro_f1(Y_TRUE[:, 0], Y_SCORE[:, 0])


def test_multilabel_fidelity_hand_computed():
    decisions = torch.tensor([[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 0]])
    theta = torch.tensor(
        [[0.9, 0.6, 0.4], [0.8, 0.7, 0.3], [0.3, 0.5, 0.2], [0.1, 0.2, 0.1]]
    )
    result = multilabel_fidelity(theta, decisions)
    # class 0 ranking 0.9+, 0.8-, 0.3+, 0.1-: AP = (1/1 + 2/3) / 2 = 5/6; class 1: 0.7+ first: AP = 1;
    # class 2 was never decided: left out of the macro mean -> (5/6 + 1) / 2 = 11/12
    assert result["macro_auprc"] == pytest.approx(11 / 12)
    # micro over the 12 entries: 0.9+, 0.8-, 0.7+, 0.6-, 0.5-, 0.4-, 0.3+ (0.3- tie) ...
    #   the tie at 0.3 holds 1 positive and 1 negative: AP = (1/1 + 2/3 + 3/8) / 3
    assert result["micro_auprc"] == pytest.approx((1 + 2 / 3 + 3 / 8) / 3)
    # F1 at 0.9: P 1, R 1/3 -> 1/2; at 0.7: P 2/3, R 2/3 -> 2/3; at 0.3: P 3/8, R 1 -> 6/11: max 2/3
    assert result["max_f1"] == pytest.approx(2 / 3)
    assert np.isnan(
        multilabel_fidelity(theta, torch.zeros(4, 3))["micro_auprc"]
    )
    with pytest.raises(ValueError, match="0 or 1"):
        multilabel_fidelity(theta, theta)
