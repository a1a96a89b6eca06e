"""Structure metrics (SPS, COMP, MM) on hand-computed masks."""

import math

import pytest
import torch

from interpretability.metrics import (
    complexity,
    mask_mean,
    sparseness,
    structure_metrics,
)


def test_uniform_mask():
    mask = torch.full((1, 4, 5), 0.3, dtype=torch.float64)  # n = 20 equal cells
    assert sparseness(mask).item() == pytest.approx(0.0, abs=1e-12)
    assert complexity(mask).item() == pytest.approx(math.log(20))
    assert mask_mean(mask).item() == pytest.approx(0.3)


def test_one_hot_mask():
    mask = torch.zeros(1, 4, 5, dtype=torch.float64)
    mask[0, 2, 3] = 0.7
    assert sparseness(mask).item() == pytest.approx(1 - 1 / 20)  # 0.95
    assert complexity(mask).item() == pytest.approx(0.0, abs=1e-12)
    assert mask_mean(mask).item() == pytest.approx(0.7 / 20)


def test_hand_computed_gini_and_entropy():
    mask = torch.tensor([[[2.0, 1.0], [0.0, 1.0]]], dtype=torch.float64)
    # sorted a = 0, 1, 1, 2; ||a||_1 = 4; n = 4; weights (n - k + 1/2) / n = 3.5/4, 2.5/4, 1.5/4, 0.5/4
    # sum_k a_k / 4 * w_k = (0 * 3.5 + 1 * 2.5 + 1 * 1.5 + 2 * 0.5) / 16 = 5 / 16
    # G = 1 - 2 * 5/16 = 0.375
    assert sparseness(mask).item() == pytest.approx(0.375)
    # q = 0, 1/4, 1/4, 1/2: H = -(2 * 1/4 * ln(1/4) + 1/2 * ln(1/2)) = ln 2 + ln(2) / 2 = 1.5 ln 2
    assert complexity(mask).item() == pytest.approx(1.5 * math.log(2))
    assert mask_mean(mask).item() == pytest.approx(1.0)


def test_absolute_values_and_scale_invariance():
    mask = torch.tensor([[[2.0, 1.0], [0.0, 1.0]]])
    signed = torch.tensor([[[-2.0, 1.0], [0.0, -1.0]]])
    assert sparseness(signed).item() == pytest.approx(sparseness(mask).item())
    assert complexity(signed).item() == pytest.approx(complexity(mask).item())
    assert sparseness(3 * mask).item() == pytest.approx(sparseness(mask).item())
    assert complexity(3 * mask).item() == pytest.approx(complexity(mask).item())


def test_all_zero_mask_is_undefined():
    mask = torch.zeros(2, 3, 4)
    assert torch.isnan(sparseness(mask)).all()
    assert torch.isnan(complexity(mask)).all()
    assert torch.equal(mask_mean(mask), torch.zeros(2))


def test_batch_equals_one_clip_at_a_time():
    mask = torch.rand(5, 7, 9, generator=torch.Generator().manual_seed(0))
    mask[2] = 0.5  # a uniform clip inside the batch
    batch = structure_metrics(mask)
    assert list(batch) == ["SPS", "COMP", "MM"]
    for i in range(5):
        single = structure_metrics(mask[i : i + 1])
        for name in batch:
            assert torch.allclose(
                batch[name][i : i + 1], single[name], atol=1e-6
            ), name
    assert batch["SPS"][2].item() == pytest.approx(0.0, abs=1e-6)


def test_mask_without_batch_dimension_is_refused():
    with pytest.raises(ValueError, match="batch"):
        sparseness(torch.ones(5))
