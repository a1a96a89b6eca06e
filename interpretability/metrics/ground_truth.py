"""Metrics against a known clean target (docs/methods.md, "Ground truth").

The synthetic set ships the target event alone, so an explanation can be scored against it: SI-SDR of
the listenable explanation, and precision / recall / IoU of the mask against the oracle mask
``|X_clean| >= 0.35 max |X_clean|``.

The headline overlap is area-matched (each mask's ``k`` largest cells, ``k`` the oracle's area): it compares the
*ranking* of the cells, which every method has, whatever the scale of its values. A fixed threshold of 0.5 favours
methods trained to output near-binary masks (a gradient map normalised by its maximum has a mean of 0.01-0.03 and
selects almost nothing at 0.5), so it is kept only as a secondary figure whose name says so (``IoU_at_0.5``).
"""

import torch


def si_sdr(estimate, target, eps=1e-8):
    """Scale-invariant signal-to-distortion ratio in dB (Le Roux et al. 2019).

    Both signals are made zero-mean; ``target_part = (<estimate, target> / (||target||^2 + eps)) * target``
    and ``SI-SDR = 10 log10((||target_part||^2 + eps) / (||estimate - target_part||^2 + eps))``.

    Arguments
    ---------
    estimate, target : torch.Tensor, ``[batch, samples]`` (any ``[..., samples]``), same shape.
    eps : float, keeps silent signals finite.

    Returns
    -------
    torch.Tensor, ``[batch]``

    Example
    -------
    >>> target = torch.sin(torch.arange(1000.0) * 0.1).unsqueeze(0)
    >>> si_sdr(0.5 * target, target).item() > 60  # scale does not count
    True
    >>> noise = torch.cos(torch.arange(1000.0) * 0.37).unsqueeze(0)
    >>> round(
    ...     si_sdr(target + noise, target).item(), 1
    ... )  # equal energies: about 0 dB
    0.0
    """
    if estimate.shape != target.shape:
        raise ValueError(
            f"estimate and target must have one shape, got {tuple(estimate.shape)} and {tuple(target.shape)}"
        )
    estimate = estimate - estimate.mean(dim=-1, keepdim=True)
    target = target - target.mean(dim=-1, keepdim=True)
    scale = (estimate * target).sum(dim=-1, keepdim=True) / (
        target.pow(2).sum(dim=-1, keepdim=True) + eps
    )
    target_part = scale * target
    residual = estimate - target_part
    ratio = (target_part.pow(2).sum(dim=-1) + eps) / (
        residual.pow(2).sum(dim=-1) + eps
    )
    return 10 * torch.log10(ratio)


def oracle_mask(clean_magnitude, threshold=0.35):
    """Oracle mask ``1[|X_clean| >= threshold * max |X_clean|]``, the max taken per clip.

    Arguments
    ---------
    clean_magnitude : torch.Tensor, ``[batch, time, freq]`` magnitude of the clean target.
    threshold : float, share of the clip's maximum.

    Returns
    -------
    torch.Tensor, float 0/1, ``[batch, time, freq]``. A silent target (max 0) gives an empty mask.

    Example
    -------
    >>> clean = torch.tensor([[[1.0, 0.3], [0.5, 0.0]]])
    >>> oracle_mask(clean, threshold=0.35)
    tensor([[[1., 0.],
             [1., 0.]]])
    """
    if clean_magnitude.dim() < 2:
        raise ValueError(
            f"clean_magnitude must be [batch, time, freq], got shape {tuple(clean_magnitude.shape)}"
        )
    magnitude = clean_magnitude.abs()
    peak = magnitude.reshape(magnitude.shape[0], -1).max(dim=1).values
    peak = peak.reshape(-1, *([1] * (magnitude.dim() - 1)))
    return ((magnitude >= threshold * peak) & (peak > 0)).to(magnitude.dtype)


def _top_cells(values, counts):
    """Per row of ``values [batch, n]``, 1 for its ``counts[row]`` largest cells (ties: lower index first)."""
    order = torch.sort(values, dim=1, descending=True, stable=True).indices
    positions = torch.arange(values.shape[1], device=values.device).expand_as(
        order
    )
    rank = torch.empty_like(order).scatter_(1, order, positions)
    return rank < counts.unsqueeze(1)


def mask_overlap(mask, oracle, threshold=0.5, match_area=False):
    """Precision, recall and IoU of a mask's selected cells against an oracle mask, per clip.

    The mask selects the cells where ``mask >= threshold``, or, with ``match_area=True``, its ``k``
    largest cells where ``k`` is the number of oracle cells of that clip (ties broken by position).
    With A the selected cells and B the oracle cells: precision = |A & B| / |A|,
    recall = |A & B| / |B|, IoU = |A & B| / |A | B|.

    Empty sets: when A and B are both empty all three are 1 (nothing to find, nothing found);
    otherwise a zero denominator gives 0 (an empty mask has precision 0, an empty oracle recall 0).

    Arguments
    ---------
    mask : torch.Tensor, ``[batch, time, freq]`` values in [0, 1].
    oracle : torch.Tensor, ``[batch, time, freq]`` 0/1 (e.g. from ``oracle_mask``).

    Returns
    -------
    dict ``{"precision", "recall", "IoU"}``, each ``[batch]`` float.

    Example
    -------
    >>> oracle = torch.tensor([[[1.0, 0.0], [1.0, 0.0]]])
    >>> mask = torch.tensor([[[0.9, 0.6], [0.2, 0.1]]])
    >>> {
    ...     name: value.tolist()
    ...     for name, value in mask_overlap(mask, oracle).items()
    ... }
    {'precision': [0.5], 'recall': [0.5], 'IoU': [0.3333333432674408]}
    >>> mask_overlap(mask, oracle, match_area=True)[
    ...     "IoU"
    ... ].tolist()  # its 2 largest cells
    [0.3333333432674408]
    """
    if mask.shape != oracle.shape or mask.dim() < 2:
        raise ValueError(
            "mask and oracle must both be [batch, time, freq], "
            f"got {tuple(mask.shape)} and {tuple(oracle.shape)}"
        )
    values = mask.reshape(mask.shape[0], -1).float()
    truth = oracle.reshape(oracle.shape[0], -1).float() >= 0.5
    if match_area:
        selected = _top_cells(values, truth.sum(dim=1))
    else:
        selected = values >= threshold
    both = (selected & truth).sum(dim=1).float()
    n_selected = selected.sum(dim=1).float()
    n_truth = truth.sum(dim=1).float()
    n_union = (selected | truth).sum(dim=1).float()

    def ratio(num, den):
        return torch.where(
            den > 0, num / den.clamp(min=1), torch.zeros_like(num)
        )

    both_empty = (n_selected == 0) & (n_truth == 0)
    one = torch.ones_like(both)
    return {
        "precision": torch.where(both_empty, one, ratio(both, n_selected)),
        "recall": torch.where(both_empty, one, ratio(both, n_truth)),
        "IoU": torch.where(both_empty, one, ratio(both, n_union)),
    }


def oracle_overlap(mask, clean_magnitude, threshold=0.5, oracle_threshold=0.35):
    """Overlap of ``mask`` ``[batch, time, freq]`` with the oracle mask of ``clean_magnitude``, per clip.

    Returns ``{"precision", "recall", "IoU"}`` area-matched (the headline figures) and the same at a fixed
    threshold as ``precision_at_0.5``, ``recall_at_0.5``, ``IoU_at_0.5`` (``threshold`` names the suffix), each
    ``[batch]``.

    Example
    -------
    >>> clean = torch.tensor([[[1.0, 0.0], [1.0, 0.0]]])
    >>> mask = torch.tensor([[[0.9, 0.1], [0.8, 0.2]]])
    >>> overlap = oracle_overlap(mask, clean)
    >>> overlap["IoU"].tolist(), overlap["IoU_at_0.5"].tolist()
    ([1.0], [1.0])
    """
    oracle = oracle_mask(clean_magnitude, oracle_threshold)
    overlap = mask_overlap(mask, oracle, match_area=True)
    thresholded = mask_overlap(mask, oracle, threshold=threshold)
    overlap.update(
        {
            f"{name}_at_{threshold:g}": value
            for name, value in thresholded.items()
        }
    )
    return overlap
