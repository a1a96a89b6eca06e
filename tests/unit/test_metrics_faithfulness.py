"""Faithfulness metrics (AI, AD, AG, FF, FidIn) on hand-computed cases."""

import pytest
import torch

from interpretability.metrics import (
    average_drop,
    average_drop_from_scores,
    average_gain,
    average_gain_from_scores,
    average_increase,
    average_increase_from_scores,
    binary_to_two_class,
    class_scores,
    faithfulness,
    faithfulness_metrics,
    faithfulness_metrics_from_scores,
    input_fidelity,
)

# Three clips, three classes. Rows: p (input), p_in (masked-in), p_out (masked-out); c = decision.
P = torch.tensor(
    [[0.5, 0.3, 0.2], [0.1, 0.6, 0.3], [0.2, 0.2, 0.6]], dtype=torch.float64
)
P_IN = torch.tensor(
    [[0.8, 0.1, 0.1], [0.3, 0.45, 0.25], [0.5, 0.3, 0.2]], dtype=torch.float64
)
P_OUT = torch.tensor(
    [[0.2, 0.5, 0.3], [0.5, 0.2, 0.3], [0.1, 0.1, 0.8]], dtype=torch.float64
)
DECISION = torch.tensor([0, 1, 2])


def test_hand_computed_values():
    metrics = faithfulness_metrics(P, P_IN, P_OUT, DECISION)
    assert list(metrics) == ["AI", "AD", "AG", "FF", "FidIn"]
    # clip 0: p_c = 0.5, p_in_c = 0.8  -> AI = 100, AD = 0, AG = 100 * 0.3 / 0.5 = 60
    # clip 1: p_c = 0.6, p_in_c = 0.45 -> AI = 0, AD = 100 * 0.15 / 0.6 = 25, AG = 0
    # clip 2: p_c = 0.6, p_in_c = 0.2  -> AI = 0, AD = 100 * 0.4 / 0.6 = 66.67, AG = 0
    assert torch.allclose(
        metrics["AI"], torch.tensor([100.0, 0.0, 0.0], dtype=torch.float64)
    )
    assert torch.allclose(
        metrics["AD"], torch.tensor([0.0, 25.0, 200 / 3], dtype=torch.float64)
    )
    assert torch.allclose(
        metrics["AG"], torch.tensor([60.0, 0.0, 0.0], dtype=torch.float64)
    )
    # FF = p_c - p_out_c: 0.5 - 0.2 = 0.3, 0.6 - 0.2 = 0.4, 0.6 - 0.8 = -0.2
    assert torch.allclose(
        metrics["FF"], torch.tensor([0.3, 0.4, -0.2], dtype=torch.float64)
    )
    # FidIn: argmax p_in = 0, 1, 0 against c = 0, 1, 2
    assert torch.equal(
        metrics["FidIn"], torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64)
    )


def test_single_functions_match_the_dict():
    metrics = faithfulness_metrics(P, P_IN, P_OUT, DECISION)
    assert torch.equal(average_increase(P, P_IN, DECISION), metrics["AI"])
    assert torch.equal(average_drop(P, P_IN, DECISION), metrics["AD"])
    assert torch.equal(average_gain(P, P_IN, DECISION), metrics["AG"])
    assert torch.equal(faithfulness(P, P_OUT, DECISION), metrics["FF"])
    assert torch.equal(input_fidelity(P_IN, DECISION), metrics["FidIn"])


def test_uses_the_given_decision_not_the_most_likely_class():
    # Same clip 0, explained for class 1 instead: p_c = 0.3, p_in_c = 0.1
    # -> AI = 0, AD = 100 * 0.2 / 0.3 = 66.67, FF = 0.3 - 0.5 = -0.2, FidIn = 0
    metrics = faithfulness_metrics(
        P[:1], P_IN[:1], P_OUT[:1], torch.tensor([1])
    )
    assert metrics["AI"].item() == 0.0
    assert metrics["AD"].item() == pytest.approx(200 / 3)
    assert metrics["FF"].item() == pytest.approx(-0.2)
    assert metrics["FidIn"].item() == 0.0


def test_no_softmax_is_applied():
    # A second softmax would make p_c = 0.391 and p_in_c = 0.502, so AG = 18.2 instead of 60.
    ag = average_gain(P[:1], P_IN[:1], DECISION[:1])
    assert ag.item() == pytest.approx(60.0)


def test_edge_p_c_equal_one_and_zero():
    # p_c = 1: AG has a zero denominator and a zero numerator -> 0, not NaN; AD = 100 * 0.5 / 1 = 50.
    p = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    p_in = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
    decision = torch.tensor([0, 0])
    assert torch.equal(
        average_gain(p, p_in, decision), torch.tensor([0.0, 0.0])
    )
    assert torch.allclose(
        average_drop(p, p_in, decision), torch.tensor([0.0, 50.0])
    )
    assert torch.equal(
        average_increase(p, p_in, decision), torch.tensor([0.0, 0.0])
    )  # equal is no increase
    # A sigmoid score of 0 (a class the classifier does not detect): AD = 0, AG = 100 * 0.3 / 1 = 30.
    score, score_in = torch.tensor([0.0]), torch.tensor([0.3])
    assert average_drop_from_scores(score, score_in).item() == 0.0
    assert average_gain_from_scores(score, score_in).item() == pytest.approx(
        30.0
    )
    assert average_increase_from_scores(score, score_in).item() == 100.0


def test_batch_equals_one_clip_at_a_time():
    generator = torch.Generator().manual_seed(0)
    p = torch.rand(8, 5, generator=generator).softmax(dim=1)
    p_in = torch.rand(8, 5, generator=generator).softmax(dim=1)
    p_out = torch.rand(8, 5, generator=generator).softmax(dim=1)
    decision = p.argmax(dim=1)
    batch = faithfulness_metrics(p, p_in, p_out, decision)
    for i in range(8):
        single = faithfulness_metrics(
            p[i : i + 1], p_in[i : i + 1], p_out[i : i + 1], decision[i : i + 1]
        )
        for name in batch:
            assert torch.allclose(batch[name][i : i + 1], single[name]), name


def test_multilabel_rows_and_scores():
    # Sigmoid outputs of 2 clips x 3 classes; decided pairs (>= 0.5): (0, 0), (0, 2), (1, 1).
    p = torch.tensor([[0.9, 0.2, 0.6], [0.1, 0.8, 0.3]])
    p_in = torch.tensor([[0.95, 0.1, 0.3], [0.2, 0.4, 0.1]])
    p_out = torch.tensor([[0.4, 0.3, 0.5], [0.1, 0.3, 0.2]])
    clip, cls = (p >= 0.5).nonzero(as_tuple=True)
    assert clip.tolist() == [0, 0, 1] and cls.tolist() == [0, 2, 1]
    metrics = faithfulness_metrics_from_scores(
        p[clip, cls], p_in[clip, cls], p_out[clip, cls]
    )
    # (0, 0): 0.9 -> 0.95: AI 100, AD 0, AG = 100 * 0.05 / 0.1 = 50, FF = 0.9 - 0.4 = 0.5, FidIn 1
    # (0, 2): 0.6 -> 0.3:  AI 0, AD = 100 * 0.3 / 0.6 = 50, AG 0, FF = 0.6 - 0.5 = 0.1, FidIn 0
    # (1, 1): 0.8 -> 0.4:  AI 0, AD = 100 * 0.4 / 0.8 = 50, AG 0, FF = 0.8 - 0.3 = 0.5, FidIn 0
    assert torch.allclose(metrics["AI"], torch.tensor([100.0, 0.0, 0.0]))
    assert torch.allclose(
        metrics["AD"], torch.tensor([0.0, 50.0, 50.0]), atol=1e-4
    )
    assert torch.allclose(
        metrics["AG"], torch.tensor([50.0, 0.0, 0.0]), atol=1e-4
    )
    assert torch.allclose(metrics["FF"], torch.tensor([0.5, 0.1, 0.5]))
    assert torch.equal(metrics["FidIn"], torch.tensor([1.0, 0.0, 0.0]))
    # The multi-class functions give the same AI / AD / AG / FF on per-row class indices.
    assert torch.allclose(average_drop(p[clip], p_in[clip], cls), metrics["AD"])
    assert torch.allclose(average_gain(p[clip], p_in[clip], cls), metrics["AG"])
    assert torch.allclose(
        faithfulness(p[clip], p_out[clip], cls), metrics["FF"]
    )


def test_binary_to_two_class_agrees_with_scores():
    score = torch.tensor([0.2, 0.7, 0.9, 0.55])
    score_in = torch.tensor([0.6, 0.3, 0.95, 0.1])
    score_out = torch.tensor([0.1, 0.8, 0.2, 0.5])
    two = {
        name: binary_to_two_class(s)
        for name, s in (("p", score), ("in", score_in), ("out", score_out))
    }
    assert torch.allclose(
        two["p"],
        torch.tensor([[0.8, 0.2], [0.3, 0.7], [0.1, 0.9], [0.45, 0.55]]),
    )
    ones = torch.ones(4, dtype=torch.long)
    by_class = faithfulness_metrics(two["p"], two["in"], two["out"], ones)
    by_score = faithfulness_metrics_from_scores(score, score_in, score_out)
    for name in by_class:
        assert torch.allclose(by_class[name], by_score[name], atol=1e-5), name


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="logits"):
        average_drop(
            torch.tensor([[2.0, -1.0]]),
            torch.tensor([[0.5, 0.5]]),
            torch.tensor([0]),
        )
    with pytest.raises(ValueError, match="integer"):
        class_scores(P, DECISION.float())
    with pytest.raises(ValueError, match=r"\[batch\]"):
        class_scores(P, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="one shape"):
        average_gain(P, P_IN[:2], DECISION)
