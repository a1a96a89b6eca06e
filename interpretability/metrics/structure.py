"""Structure of a mask, whatever its faithfulness (docs/methods.md, "Metrics").

- SPS (sparseness): Gini index of the mask's absolute values (Chalasani et al. 2020, after Hurley &
  Rickard 2009): 0 for a uniform mask, ``1 - 1/n`` for a single non-zero cell among ``n``.
- COMP (complexity): entropy (natural log) of ``|M| / sum |M|`` (Bhatt et al. 2020): ``log n`` for a
  uniform mask, 0 for a single non-zero cell.
- MM: mean of the mask.

An all-zero mask has no distribution to measure: SPS and COMP are NaN for it (the collectors in
``stats.py`` skip NaN and log how many they skipped).
"""

import torch


def _flatten(mask):
    if mask.dim() < 2:
        raise ValueError(
            f"mask must be [batch, ...] ([batch, time, freq]), got shape {tuple(mask.shape)}"
        )
    return mask.reshape(mask.shape[0], -1).abs()


def sparseness(mask):
    """Gini index of ``|mask|`` per clip.

    With ``a_1 <= ... <= a_n`` the sorted absolute values,
    ``G = 1 - 2 * sum_k (a_k / ||a||_1) * (n - k + 1/2) / n``.

    Arguments
    ---------
    mask : torch.Tensor, ``[batch, time, freq]`` (any ``[batch, ...]``).

    Returns
    -------
    torch.Tensor, ``[batch]``; NaN for an all-zero mask.

    Example
    -------
    >>> masks = torch.tensor([[[0.0, 0.0, 0.0, 1.0]], [[1.0, 1.0, 1.0, 1.0]]])
    >>> sparseness(masks).tolist()  # one cell of 4: 1 - 1/4; uniform: 0
    [0.75, 0.0]
    """
    values = _flatten(mask)
    n = values.shape[1]
    sorted_values, _ = values.sort(dim=1)
    k = torch.arange(1, n + 1, device=values.device, dtype=values.dtype)
    weights = (n - k + 0.5) / n
    total = sorted_values.sum(dim=1)
    weighted = (sorted_values * weights).sum(dim=1)
    gini = 1 - 2 * weighted / total
    return torch.where(total > 0, gini, torch.full_like(gini, float("nan")))


def complexity(mask):
    """Entropy (nats) of ``|mask| / sum |mask|`` per clip, with ``0 * log 0 = 0``.

    Arguments
    ---------
    mask : torch.Tensor, ``[batch, time, freq]`` (any ``[batch, ...]``).

    Returns
    -------
    torch.Tensor, ``[batch]``; NaN for an all-zero mask.

    Example
    -------
    >>> masks = torch.tensor([[[0.0, 0.0, 0.0, 1.0]], [[1.0, 1.0, 1.0, 1.0]]])
    >>> [round(abs(v), 3) for v in complexity(masks).tolist()]  # 0 and log(4)
    [0.0, 1.386]
    """
    values = _flatten(mask)
    total = values.sum(dim=1, keepdim=True)
    q = values / total
    entropy = -torch.where(q > 0, q * q.log(), torch.zeros_like(q)).sum(dim=1)
    return torch.where(
        total.squeeze(1) > 0, entropy, torch.full_like(entropy, float("nan"))
    )


def mask_mean(mask):
    """Mean of the mask per clip, ``[batch, ...]`` -> ``[batch]``.

    Example
    -------
    >>> masks = torch.tensor([[[0.0, 0.0, 0.0, 1.0]], [[1.0, 1.0, 1.0, 1.0]]])
    >>> mask_mean(masks).tolist()
    [0.25, 1.0]
    """
    if mask.dim() < 2:
        raise ValueError(
            f"mask must be [batch, ...] ([batch, time, freq]), got shape {tuple(mask.shape)}"
        )
    return mask.reshape(mask.shape[0], -1).mean(dim=1)


def structure_metrics(mask):
    """``{"SPS", "COMP", "MM"}`` of a batch of masks ``[batch, time, freq]``, each ``[batch]``.

    Example
    -------
    >>> masks = torch.tensor([[[0.0, 0.0, 0.0, 1.0]], [[1.0, 1.0, 1.0, 1.0]]])
    >>> {
    ...     name: abs(value.item())
    ...     for name, value in structure_metrics(masks[:1]).items()
    ... }
    {'SPS': 0.75, 'COMP': 0.0, 'MM': 0.25}
    """
    return {
        "SPS": sparseness(mask),
        "COMP": complexity(mask),
        "MM": mask_mean(mask),
    }
