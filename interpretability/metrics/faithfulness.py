"""Faithfulness of a mask to the classifier (docs/methods.md, "Metrics").

Per clip, with ``p = f(|X|)``, ``p_in = f(M*|X|)`` and ``p_out = f((1-M)*|X|)`` given as probabilities
(already softmaxed or sigmoided: nothing here applies a softmax) and ``c`` the classifier's decision:

- AI = 100 * 1[p_in_c > p_c]
- AD = 100 * max(0, p_c - p_in_c) / p_c
- AG = 100 * max(0, p_in_c - p_c) / (1 - p_c)
- FF = p_c - p_out_c
- FidIn = 1[argmax p_in == c]

The ``*_from_scores`` functions take the explained class's probability directly, ``[batch]``. Use them for
multi-label classifiers (SONYC-UST), where each decided (clip, class) pair is one row::

    clip, cls = (torch.sigmoid(logits) >= 0.5).nonzero(as_tuple=True)
    score, score_in, score_out = p[clip, cls], p_in[clip, cls], p_out[clip, cls]
    faithfulness_metrics_from_scores(score, score_in, score_out)

The multi-class functions work the same way on such rows: ``decision`` holds one class index per row, so
``average_drop(p[clip], p_in[clip], cls)`` gives the same AD. Only FidIn differs: with sigmoid scores the
decision is "present" (``score_in >= 0.5``), not an argmax over classes.
"""

import torch

EPS = 1e-12


def _check_probabilities(name, prob):
    if prob.numel() and (prob.min() < -1e-6 or prob.max() > 1 + 1e-6):
        raise ValueError(
            f"{name} holds values outside [0, 1]: pass probabilities (softmax or sigmoid), not logits"
        )


def _check_scores(**scores):
    shapes = {name: tuple(s.shape) for name, s in scores.items()}
    first = next(iter(scores.values()))
    if first.dim() != 1 or len(set(shapes.values())) != 1:
        raise ValueError(
            f"scores must be 1-D tensors of one shape [batch], got {shapes}"
        )
    for name, s in scores.items():
        _check_probabilities(name, s)


def class_scores(prob, decision):
    """Probability of each row's decided class.

    Arguments
    ---------
    prob : torch.Tensor, ``[batch, classes]`` probabilities.
    decision : torch.Tensor, long, ``[batch]`` class index per row (the classifier's decision).

    Returns
    -------
    torch.Tensor, ``[batch]``

    Example
    -------
    >>> class_scores(
    ...     torch.tensor([[0.2, 0.8], [0.6, 0.4]]), torch.tensor([1, 0])
    ... )
    tensor([0.8000, 0.6000])
    """
    if prob.dim() != 2:
        raise ValueError(
            f"probabilities must be [batch, classes], got shape {tuple(prob.shape)}"
        )
    if decision.dim() != 1 or decision.shape[0] != prob.shape[0]:
        raise ValueError(
            f"decision must be [batch] = [{prob.shape[0]}], got shape {tuple(decision.shape)}"
        )
    if decision.dtype.is_floating_point or decision.dtype == torch.bool:
        raise ValueError(
            f"decision must hold integer class indices, got dtype {decision.dtype}"
        )
    return prob.gather(1, decision.to(prob.device).long().unsqueeze(1)).squeeze(
        1
    )


def binary_to_two_class(prob):
    """Turn sigmoid scores ``[batch]`` into two-class probabilities ``[batch, 2]`` = (1 - p, p).

    With ``decision = 1`` the multi-class functions then give the ``*_from_scores`` values.

    Example
    -------
    >>> binary_to_two_class(torch.tensor([0.25]))
    tensor([[0.7500, 0.2500]])
    """
    return torch.stack([1 - prob, prob], dim=-1)


# ---- on the explained class's scores, [batch] -------------------------------------------------


def average_increase_from_scores(score, score_in):
    """AI = 100 * 1[score_in > score], ``[batch]`` scores -> ``[batch]``.

    Example
    -------
    >>> average_increase_from_scores(
    ...     torch.tensor([0.5, 0.5]), torch.tensor([0.75, 0.25])
    ... ).tolist()
    [100.0, 0.0]
    """
    _check_scores(score=score, score_in=score_in)
    return 100.0 * (score_in > score).to(score.dtype)


def average_drop_from_scores(score, score_in, eps=EPS):
    """AD = 100 * max(0, score - score_in) / score, ``[batch]`` -> ``[batch]``.

    The numerator is at most ``score``, so ``score = 0`` gives 0 (the denominator is clamped to ``eps``).

    Example
    -------
    >>> average_drop_from_scores(torch.tensor([0.5]), torch.tensor([0.25]))
    tensor([50.])
    """
    _check_scores(score=score, score_in=score_in)
    return 100.0 * (score - score_in).clamp(min=0) / score.clamp(min=eps)


def average_gain_from_scores(score, score_in, eps=EPS):
    """AG = 100 * max(0, score_in - score) / (1 - score), ``[batch]`` -> ``[batch]``.

    The numerator is at most ``1 - score``, so ``score = 1`` gives 0 (the denominator is clamped to ``eps``).

    Example
    -------
    >>> average_gain_from_scores(torch.tensor([0.5]), torch.tensor([0.75]))
    tensor([50.])
    """
    _check_scores(score=score, score_in=score_in)
    return 100.0 * (score_in - score).clamp(min=0) / (1 - score).clamp(min=eps)


def faithfulness_from_scores(score, score_out):
    """FF = score - score_out, ``[batch]`` -> ``[batch]``.

    Example
    -------
    >>> faithfulness_from_scores(torch.tensor([0.75]), torch.tensor([0.25]))
    tensor([0.5000])
    """
    _check_scores(score=score, score_out=score_out)
    return score - score_out


def input_fidelity_from_scores(score_in, threshold=0.5):
    """Multi-label FidIn = 1[score_in >= threshold]: the masked-in input still detects the class.

    Example
    -------
    >>> input_fidelity_from_scores(torch.tensor([0.75, 0.25])).tolist()
    [1.0, 0.0]
    """
    _check_scores(score_in=score_in)
    return (score_in >= threshold).to(score_in.dtype)


def faithfulness_metrics_from_scores(score, score_in, score_out, threshold=0.5):
    """All faithfulness metrics on the explained class's sigmoid scores, ``[batch]`` each.

    Returns
    -------
    dict with keys ``AI, AD, AG, FF, FidIn``, each ``[batch]``.

    Example
    -------
    >>> metrics = faithfulness_metrics_from_scores(
    ...     torch.tensor([0.5]), torch.tensor([0.75]), torch.tensor([0.25])
    ... )
    >>> {name: value.tolist() for name, value in metrics.items()}
    {'AI': [100.0], 'AD': [0.0], 'AG': [50.0], 'FF': [0.25], 'FidIn': [1.0]}
    """
    return {
        "AI": average_increase_from_scores(score, score_in),
        "AD": average_drop_from_scores(score, score_in),
        "AG": average_gain_from_scores(score, score_in),
        "FF": faithfulness_from_scores(score, score_out),
        "FidIn": input_fidelity_from_scores(score_in, threshold),
    }


# ---- multi-class, [batch, classes] probabilities + decision [batch] ---------------------------


def _gather_pair(p, p_other, decision, other_name):
    if p.shape != p_other.shape:
        raise ValueError(
            f"p and {other_name} must have one shape, got {tuple(p.shape)} and {tuple(p_other.shape)}"
        )
    _check_probabilities("p", p)
    _check_probabilities(other_name, p_other)
    return class_scores(p, decision), class_scores(p_other, decision)


def average_increase(p, p_in, decision):
    """AI = 100 * 1[p_in_c > p_c].

    Arguments
    ---------
    p, p_in : torch.Tensor, ``[batch, classes]`` probabilities of the input and the masked-in input.
    decision : torch.Tensor, long, ``[batch]`` the classifier's decision c on the input.

    Returns
    -------
    torch.Tensor, ``[batch]``, 0 or 100.

    Example
    -------
    >>> p = torch.tensor([[0.5, 0.5], [0.25, 0.75]])
    >>> p_in = torch.tensor([[0.25, 0.75], [0.5, 0.5]])
    >>> decision = torch.tensor([1, 1])
    >>> average_increase(p, p_in, decision).tolist()
    [100.0, 0.0]
    """
    return average_increase_from_scores(
        *_gather_pair(p, p_in, decision, "p_in")
    )


def average_drop(p, p_in, decision):
    """AD = 100 * max(0, p_c - p_in_c) / p_c, ``[batch, classes]`` x 2 + ``[batch]`` -> ``[batch]``.

    Example
    -------
    >>> p = torch.tensor([[0.5, 0.5], [0.25, 0.75]])
    >>> p_in = torch.tensor([[0.25, 0.75], [0.5, 0.5]])
    >>> decision = torch.tensor([1, 1])
    >>> [round(v, 2) for v in average_drop(p, p_in, decision).tolist()]
    [0.0, 33.33]
    """
    return average_drop_from_scores(*_gather_pair(p, p_in, decision, "p_in"))


def average_gain(p, p_in, decision):
    """AG = 100 * max(0, p_in_c - p_c) / (1 - p_c); 0 when p_c = 1 (denominator clamped to 1e-12).

    ``[batch, classes]`` x 2 + ``[batch]`` -> ``[batch]``.

    Example
    -------
    >>> p = torch.tensor([[0.5, 0.5], [0.25, 0.75]])
    >>> p_in = torch.tensor([[0.25, 0.75], [0.5, 0.5]])
    >>> decision = torch.tensor([1, 1])
    >>> average_gain(p, p_in, decision).tolist()
    [50.0, 0.0]
    """
    return average_gain_from_scores(*_gather_pair(p, p_in, decision, "p_in"))


def faithfulness(p, p_out, decision):
    """FF = p_c - p_out_c (``p_out`` from the masked-out input), -> ``[batch]``.

    Example
    -------
    >>> p = torch.tensor([[0.5, 0.5], [0.25, 0.75]])
    >>> p_out = torch.tensor([[0.75, 0.25], [0.5, 0.5]])
    >>> decision = torch.tensor([1, 1])
    >>> faithfulness(p, p_out, decision).tolist()
    [0.25, 0.25]
    """
    return faithfulness_from_scores(*_gather_pair(p, p_out, decision, "p_out"))


def input_fidelity(p_in, decision):
    """FidIn = 1[argmax p_in == c], ``[batch, classes]`` + ``[batch]`` -> ``[batch]`` float 0/1.

    Example
    -------
    >>> p_in = torch.tensor([[0.25, 0.75], [0.5, 0.5]])
    >>> decision = torch.tensor([1, 1])
    >>> input_fidelity(
    ...     p_in, decision
    ... ).tolist()  # row 2: a tie, argmax is class 0
    [1.0, 0.0]
    """
    _check_probabilities("p_in", p_in)
    class_scores(p_in, decision)  # shape and dtype checks
    return (p_in.argmax(dim=1) == decision.to(p_in.device)).to(p_in.dtype)


def faithfulness_metrics(p, p_in, p_out, decision):
    """All faithfulness metrics of a batch of multi-class explanations.

    Arguments
    ---------
    p, p_in, p_out : torch.Tensor, ``[batch, classes]`` probabilities of the input, the masked-in
        input ``M*|X|`` and the masked-out input ``(1-M)*|X|``.
    decision : torch.Tensor, long, ``[batch]`` the classifier's decision on the input.

    Returns
    -------
    dict with keys ``AI, AD, AG, FF, FidIn``, each ``[batch]``.

    Example
    -------
    >>> p = torch.tensor([[0.5, 0.5], [0.25, 0.75]])
    >>> p_in = torch.tensor([[0.25, 0.75], [0.5, 0.5]])
    >>> decision = torch.tensor([1, 1])
    >>> p_out = torch.tensor([[0.75, 0.25], [0.5, 0.5]])
    >>> metrics = faithfulness_metrics(p, p_in, p_out, decision)
    >>> sorted(metrics), metrics["AI"].tolist()
    (['AD', 'AG', 'AI', 'FF', 'FidIn'], [100.0, 0.0])
    """
    return {
        "AI": average_increase(p, p_in, decision),
        "AD": average_drop(p, p_in, decision),
        "AG": average_gain(p, p_in, decision),
        "FF": faithfulness(p, p_out, decision),
        "FidIn": input_fidelity(p_in, decision),
    }
