"""Sanity check of an explanation method (Adebayo et al. 2018; docs/methods.md, "Sanity checks").

Masks computed on the trained classifier and on one whose layers were randomised are compared by their
rank correlation: a method that explains the model must give low correlations.
"""

import torch


def _average_ranks(values):
    """Ranks 1..n along dim 1 of ``[batch, n]``, tied values sharing their average rank."""
    sorted_values = values.sort(dim=1).values.contiguous()
    values = values.contiguous()
    first = torch.searchsorted(sorted_values, values, side="left")
    last = torch.searchsorted(sorted_values, values, side="right") - 1
    return (first + last).to(torch.float64) / 2 + 1


def mask_rank_correlation(mask_a, mask_b):
    """Spearman rank correlation between two masks of each clip (ties get average ranks).

    Arguments
    ---------
    mask_a, mask_b : torch.Tensor, ``[batch, time, freq]`` (any ``[batch, ...]``), same shape.

    Returns
    -------
    torch.Tensor, ``[batch]`` in [-1, 1]; NaN where either mask is constant (no ranking to compare).

    Example
    -------
    >>> mask = torch.tensor([[[0.1, 0.4], [0.2, 0.9]]])
    >>> round(mask_rank_correlation(mask, mask * 2).item(), 6)  # same order
    1.0
    >>> round(mask_rank_correlation(mask, 1 - mask).item(), 6)  # reversed
    -1.0
    """
    if mask_a.shape != mask_b.shape or mask_a.dim() < 2:
        raise ValueError(
            "masks must both be [batch, ...] of one shape, "
            f"got {tuple(mask_a.shape)} and {tuple(mask_b.shape)}"
        )
    rank_a = _average_ranks(mask_a.reshape(mask_a.shape[0], -1))
    rank_b = _average_ranks(mask_b.reshape(mask_b.shape[0], -1))
    rank_a = rank_a - rank_a.mean(dim=1, keepdim=True)
    rank_b = rank_b - rank_b.mean(dim=1, keepdim=True)
    covariance = (rank_a * rank_b).sum(dim=1)
    scale = (rank_a.pow(2).sum(dim=1) * rank_b.pow(2).sum(dim=1)).sqrt()
    undefined = torch.full_like(scale, float("nan"))
    correlation = torch.where(
        scale > 0, covariance / scale.clamp(min=1e-300), undefined
    )
    return correlation.clamp(-1, 1).to(
        mask_a.dtype if mask_a.dtype.is_floating_point else torch.float32
    )
