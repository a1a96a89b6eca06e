"""Ground-truth metrics (SI-SDR, oracle mask, mask overlap) and the sanity rank correlation."""

import math

import pytest
import torch
from scipy.stats import spearmanr

from interpretability.metrics import (
    mask_overlap,
    mask_rank_correlation,
    oracle_mask,
    oracle_overlap,
    si_sdr,
)

# Zero-mean target of energy 4 and a zero-mean noise orthogonal to it (1 - 1 - 1 + 1 = 0), energy 1.
TARGET = torch.tensor([1.0, -1.0, 1.0, -1.0], dtype=torch.float64)
NOISE = 0.5 * torch.tensor([1.0, 1.0, -1.0, -1.0], dtype=torch.float64)


def test_si_sdr_orthogonal_noise():
    # projection of target + noise on target = target, residual = noise: 10 log10(4 / 1) = 6.0206 dB
    value = si_sdr((TARGET + NOISE).unsqueeze(0), TARGET.unsqueeze(0))
    assert value.shape == (1,)
    assert value.item() == pytest.approx(10 * math.log10(4), abs=1e-6)
    # noise of the target's energy -> 0 dB
    assert si_sdr(
        (TARGET + 2 * NOISE)[None], TARGET[None]
    ).item() == pytest.approx(0.0, abs=1e-6)


def test_si_sdr_scaled_copy_is_very_high():
    target = torch.randn(2, 16000, generator=torch.Generator().manual_seed(0))
    assert (si_sdr(0.5 * target, target) > 80).all()


def test_si_sdr_ignores_scale_and_offset():
    estimate = (TARGET + NOISE)[None]
    reference = si_sdr(estimate, TARGET[None]).item()
    assert si_sdr(3 * estimate, TARGET[None]).item() == pytest.approx(
        reference, abs=1e-6
    )
    assert si_sdr(estimate + 0.7, TARGET[None]).item() == pytest.approx(
        reference, abs=1e-6
    )


def test_si_sdr_batch_equals_single():
    estimates = torch.stack([TARGET + NOISE, TARGET + 2 * NOISE])
    targets = torch.stack([TARGET, TARGET])
    batch = si_sdr(estimates, targets)
    assert torch.allclose(
        batch,
        torch.tensor([10 * math.log10(4), 0.0], dtype=torch.float64),
        atol=1e-6,
    )
    with pytest.raises(ValueError, match="one shape"):
        si_sdr(estimates, targets[:, :3])


def test_oracle_mask_per_clip_maximum():
    clean = torch.tensor(
        [
            [
                [0.0, 1.0, 2.0],
                [4.0, 10.0, 3.5],
            ],  # max 10 -> threshold 3.5: cells 4, 10, 3.5
            [
                [1.0, 0.2, 0.3],
                [0.1, 0.5, 0.34],
            ],  # max 1 -> threshold 0.35: cells 1, 0.5
            [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]],  # silent target -> empty
        ]
    )
    expected = torch.tensor(
        [
            [[0, 0, 0], [1, 1, 1]],
            [[1, 0, 0], [0, 1, 0]],
            [[0, 0, 0], [0, 0, 0]],
        ],
        dtype=torch.float32,
    )
    assert torch.equal(oracle_mask(clean), expected)
    # threshold 0.5 of clip 0: >= 5 -> only the 10
    assert oracle_mask(clean[:1], threshold=0.5).sum().item() == 1


ORACLE = torch.tensor(
    [[[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]]]
)  # B = {(0,0), (1,0), (1,1)}


def test_overlap_thresholded():
    mask = torch.tensor([[[0.9, 0.6, 0.1], [0.4, 0.7, 0.2]]])
    # A = {(0,0), (0,1), (1,1)}; A & B = {(0,0), (1,1)}; |A| = 3, |B| = 3, |A | B| = 4
    result = mask_overlap(mask, ORACLE)
    assert result["precision"].item() == pytest.approx(2 / 3)
    assert result["recall"].item() == pytest.approx(2 / 3)
    assert result["IoU"].item() == pytest.approx(2 / 4)


def test_overlap_matching_the_oracle_area():
    mask = torch.tensor([[[0.9, 0.45, 0.1], [0.4, 0.7, 0.2]]])
    # at 0.5: A = {(0,0), (1,1)} -> precision 2/2, recall 2/3, IoU 2/3
    thresholded = mask_overlap(mask, ORACLE)
    assert [
        thresholded[k].item() for k in ("precision", "recall", "IoU")
    ] == pytest.approx([1, 2 / 3, 2 / 3])
    # top-3 (|B| = 3): 0.9, 0.7, 0.45 -> A = {(0,0), (1,1), (0,1)}: precision 2/3, recall 2/3, IoU 2/4
    matched = mask_overlap(mask, ORACLE, match_area=True)
    assert [
        matched[k].item() for k in ("precision", "recall", "IoU")
    ] == pytest.approx([2 / 3, 2 / 3, 1 / 2])


def test_oracle_overlap_headline_is_area_matched():
    """A gradient-style mask (normalised by its maximum, most values small) ranks the oracle cells first but selects
    one cell at 0.5: the headline IoU judges the ranking (1.0), the thresholded one the scale (1/3)."""
    clean = torch.tensor(
        [[[4.0, 0.1, 0.0], [2.0, 3.0, 0.2]]]
    )  # oracle (>= 0.35 * 4): (0,0), (1,0), (1,1)
    mask = torch.tensor([[[1.0, 0.01, 0.0], [0.05, 0.2, 0.02]]])
    overlap = oracle_overlap(mask, clean)
    assert [
        overlap[k].item() for k in ("precision", "recall", "IoU")
    ] == pytest.approx([1.0, 1.0, 1.0])
    assert [
        overlap[f"{k}_at_0.5"].item() for k in ("precision", "recall", "IoU")
    ] == pytest.approx([1, 1 / 3, 1 / 3])


def test_overlap_ties_and_empty_sets():
    # constant mask, 2 oracle cells: the top-2 are the first two cells in memory order
    tied = mask_overlap(
        torch.full((1, 2, 2), 0.5),
        torch.tensor([[[0.0, 1.0], [1.0, 0.0]]]),
        match_area=True,
    )
    # A = {(0,0), (0,1)}, B = {(0,1), (1,0)}: 1 shared cell -> precision 1/2, recall 1/2, IoU 1/3
    assert [
        tied[k].item() for k in ("precision", "recall", "IoU")
    ] == pytest.approx([0.5, 0.5, 1 / 3])

    empty_mask = torch.full((3, 2, 2), 0.1)
    oracles = torch.zeros(3, 2, 2)
    oracles[0, 0, 0] = 1  # clip 0: empty mask, non-empty oracle -> 0, 0, 0
    empty_mask[2, 1, 1] = 0.9  # clip 2: non-empty mask, empty oracle -> 0, 0, 0
    # clip 1: both empty -> 1, 1, 1
    result = mask_overlap(empty_mask, oracles)
    for name in ("precision", "recall", "IoU"):
        assert result[name].tolist() == [0.0, 1.0, 0.0], name


def test_overlap_batch_equals_single():
    generator = torch.Generator().manual_seed(1)
    mask = torch.rand(4, 6, 5, generator=generator)
    oracle = (torch.rand(4, 6, 5, generator=generator) > 0.7).float()
    for match_area in (False, True):
        batch = mask_overlap(mask, oracle, match_area=match_area)
        for i in range(4):
            single = mask_overlap(
                mask[i : i + 1], oracle[i : i + 1], match_area=match_area
            )
            for name in batch:
                assert torch.allclose(batch[name][i : i + 1], single[name]), (
                    name
                )
        if match_area:  # k = |B| cells selected in every clip
            assert torch.allclose(batch["precision"], batch["recall"])


def test_rank_correlation_hand_cases():
    a = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])
    # identical -> 1; reversed order -> -1; a monotone transform keeps the ranks -> 1
    assert mask_rank_correlation(a, a).item() == pytest.approx(1.0)
    assert mask_rank_correlation(a, -a).item() == pytest.approx(-1.0)
    assert mask_rank_correlation(a, a**3).item() == pytest.approx(1.0)
    # b ranks 1, 3, 2, 4: d = 0, -1, 1, 0 -> rho = 1 - 6 * 2 / (4 * (16 - 1)) = 0.8
    b = torch.tensor([[[1.0, 3.0], [2.0, 4.0]]])
    assert mask_rank_correlation(a, b).item() == pytest.approx(0.8)


def test_rank_correlation_ties_use_average_ranks():
    tied = torch.tensor([[1.0, 2.0, 2.0, 3.0]])  # ranks 1, 2.5, 2.5, 4
    plain = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    # centred ranks (-1.5, 0, 0, 1.5) and (-1.5, -0.5, 0.5, 1.5): 4.5 / sqrt(4.5 * 5) = 0.948683
    assert mask_rank_correlation(tied, plain).item() == pytest.approx(
        4.5 / math.sqrt(22.5)
    )
    # agrees with scipy on random masks with many ties, clip by clip
    generator = torch.Generator().manual_seed(2)
    mask_a = torch.randint(0, 4, (3, 5, 6), generator=generator).float()
    mask_b = torch.randint(0, 4, (3, 5, 6), generator=generator).float()
    rho = mask_rank_correlation(mask_a, mask_b)
    for i in range(3):
        expected = spearmanr(
            mask_a[i].flatten().numpy(), mask_b[i].flatten().numpy()
        ).statistic
        assert rho[i].item() == pytest.approx(expected, abs=1e-6)


def test_rank_correlation_of_a_constant_mask_is_undefined():
    a = torch.tensor([[[1.0, 2.0], [3.0, 4.0]], [[1.0, 2.0], [3.0, 4.0]]])
    b = torch.stack([torch.full((2, 2), 0.5), a[0]])
    rho = mask_rank_correlation(a, b)
    assert math.isnan(rho[0].item()) and rho[1].item() == pytest.approx(1.0)
