"""L-MAC: a decoder on the frozen classifier's hidden maps that outputs a listenable mask (docs/methods.md, "L-MAC").

:class:`LMACDecoder` reads the classifier's hidden representations ``{layer: [B, C, T_l, M_l]}`` (on a
downsampled (time, mel) grid) and returns mask logits on the linear STFT grid ``[B, T, F=513]``.
:func:`lmac_objective` is the training loss: mask-in / mask-out cross-entropy against the classifier's own
decision, an L1 term on the mask, optional total variation, and the fine-tuning guidance of "L-MAC FT".
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from interpretability.metrics.ground_truth import oracle_mask
from interpretability.spectral import N_MELS, SAMPLE_RATE, apply_mask


def _group_norm(channels, max_groups=8):
    return nn.GroupNorm(math.gcd(max_groups, channels), channels)


class _ConvNormReLU(nn.Sequential):
    """3x3 conv + GroupNorm + ReLU; keeps the spatial size. GroupNorm is per sample, so a mask does not
    depend on the other clips of its batch."""

    def __init__(self, in_channels, out_channels):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            _group_norm(out_channels),
            nn.ReLU(),
        )


def _fit(x, size):
    """Resize ``[B, C, t, m]`` to exactly ``size = (T, M)``.

    When upsampling, each axis is scaled by the integer factor ``round(T / t)`` (bilinear, cell centres
    aligned, as pooling by that factor would undo) and then edge-padded or cropped at the end: pooling
    floors, so the frames a pooled map does not cover are the last ones. When a target is smaller than the
    input, plain bilinear interpolation to the target size.
    """
    current = tuple(x.shape[-2:])
    size = tuple(int(s) for s in size)
    if current == size:
        return x
    if any(t < c for t, c in zip(size, current)):
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    scaled = tuple(c * max(1, round(t / c)) for c, t in zip(current, size))
    if scaled != current:
        x = F.interpolate(x, size=scaled, mode="bilinear", align_corners=False)
    x = x[..., : size[0], : size[1]]
    pad_time, pad_freq = size[0] - x.shape[-2], size[1] - x.shape[-1]
    if pad_time > 0 or pad_freq > 0:
        x = F.pad(x, (0, pad_freq, 0, pad_time), mode="replicate")
    return x


def mel_to_linear_matrix(
    n_mels=N_MELS, n_freqs=513, sample_rate=SAMPLE_RATE, f_min=0.0, f_max=None
):
    """Linear interpolation from mel-band centres to linear STFT bins, ``[n_freqs, n_mels]``.

    Band centres as in SpeechBrain's ``Filterbank`` (HTK mel, ``n_mels + 2`` equally spaced points,
    centres at the inner ones). Row ``k`` holds the weights that interpolate the value of linear bin ``k``
    from its two nearest band centres (clamped at both ends); every row sums to 1.

    Example
    -------
    >>> matrix = mel_to_linear_matrix(n_mels=80, n_freqs=513)
    >>> matrix.shape, bool(torch.allclose(matrix.sum(dim=1), torch.ones(513)))
    (torch.Size([513, 80]), True)
    """
    f_max = sample_rate / 2 if f_max is None else f_max

    def to_mel(hz):
        return 2595.0 * torch.log10(1.0 + hz / 700.0)

    mel_min, mel_max = (
        to_mel(torch.tensor(float(f_min))),
        to_mel(torch.tensor(float(f_max))),
    )
    step = (mel_max - mel_min) / (n_mels + 1)
    freqs = torch.linspace(0, sample_rate / 2, n_freqs, dtype=torch.float64)
    position = ((to_mel(freqs) - mel_min) / step - 1).clamp(0, n_mels - 1)
    lower = position.floor().long().clamp(max=n_mels - 1)
    upper = (lower + 1).clamp(max=n_mels - 1)
    frac = position - lower
    matrix = torch.zeros(n_freqs, n_mels, dtype=torch.float64)
    rows = torch.arange(n_freqs)
    matrix[rows, lower] += 1 - frac
    matrix[rows, upper] += frac
    return matrix.float()


class LMACDecoder(nn.Module):
    """Top-down (U-Net-like) decoder from hidden maps to mask logits on the STFT grid.

    Each layer is projected by a 1x1 conv; starting at the deepest, the running map is resized to the next
    shallower layer's size (exact target size, any odd size), added to that layer's projection and passed
    through a 3x3 conv + norm + ReLU block. Channels halve from ``width`` at the deepest layer towards the
    shallow ones (never below ``min_width``), so the high-resolution steps stay cheap. The result
    (``head_channels``) is resized to ``(n_frames, n_mels)`` (the classifier's mel axis), refined by one
    more block and turned into one channel by a 3x3 conv; a learned linear layer over frequency (initialised
    as mel-to-linear interpolation) maps the mel axis to the ``n_freqs`` linear bins, its bias setting the
    initial mask level. (Mapping one channel rather than many keeps the full-resolution cost low: both maps
    are linear, so the order loses nothing.)

    Arguments
    ---------
    layer_channels : dict[str, int]
        Channels of each hidden map read, ordered shallow -> deep, e.g. ``{"conv_block3": 256, ...}``.
    n_freqs : int
        Linear STFT bins of the output (513).
    width : int
        Channels of the top-down path at the deepest layer.
    min_width : int
        Fewest channels of the top-down path (at the shallow layers).
    n_mels : int
        Size of the mel-like frequency axis before the mel-to-linear map; the classifier's ``n_mels``.
    head_channels : int
        Channels at full time resolution.
    sample_rate : int
        Used to place the mel-band centres of the initial mel-to-linear map.
    initial_logit : float
        Bias of the mel-to-linear layer: the initial mask is about ``sigmoid(initial_logit)`` (0.73 by default).
    n_masks : int
        1 (default): one mask explaining the decision, ``[B, T, F]``. For a multi-label classifier, one mask per
        class, ``[B, n_masks, T, F]``, of which each (clip, present class) row uses its own.

    Example
    -------
    >>> decoder = LMACDecoder(
    ...     {"block1": 8, "block2": 16}, width=16, min_width=8, head_channels=4
    ... )
    >>> hidden = {
    ...     "block1": torch.randn(2, 8, 20, 40),
    ...     "block2": torch.randn(2, 16, 10, 20),
    ... }
    >>> mask = decoder.mask(hidden, n_frames=44)
    >>> mask.shape, bool(((mask >= 0) & (mask <= 1)).all())
    (torch.Size([2, 44, 513]), True)
    """

    def __init__(
        self,
        layer_channels,
        n_freqs=513,
        width=64,
        min_width=32,
        n_mels=N_MELS,
        head_channels=16,
        sample_rate=SAMPLE_RATE,
        initial_logit=1.0,
        n_masks=1,
    ):
        super().__init__()
        if not layer_channels:
            raise ValueError(
                "layer_channels must name at least one hidden layer"
            )
        self.layer_names = list(layer_channels)
        self.layer_channels = {
            name: int(c) for name, c in layer_channels.items()
        }
        self.n_masks = int(n_masks)
        self.config = dict(
            layer_channels=dict(self.layer_channels),
            n_freqs=n_freqs,
            width=width,
            min_width=min_width,
            n_mels=n_mels,
            head_channels=head_channels,
            sample_rate=sample_rate,
            initial_logit=initial_logit,
            n_masks=self.n_masks,
        )
        self.n_freqs = n_freqs
        self.n_mels = n_mels
        depth = len(self.layer_names)
        widths = [
            max(min(min_width, width), width // 2 ** (depth - 1 - i))
            for i in range(depth)
        ]
        self.lateral = nn.ModuleList(
            nn.Conv2d(c, w, 1)
            for c, w in zip(self.layer_channels.values(), widths)
        )
        out_widths = [head_channels, *widths[:-1]]
        self.merge = nn.ModuleList(
            _ConvNormReLU(w, o) for w, o in zip(widths, out_widths)
        )
        self.refine = _ConvNormReLU(head_channels, head_channels)
        self.output = nn.Conv2d(head_channels, self.n_masks, 3, padding=1)
        self.mel_to_linear = nn.Linear(n_mels, n_freqs)
        with torch.no_grad():
            self.output.weight.mul_(0.1)
            self.output.bias.zero_()
            self.mel_to_linear.weight.copy_(
                mel_to_linear_matrix(n_mels, n_freqs, sample_rate)
            )
            self.mel_to_linear.bias.fill_(initial_logit)

    def forward(self, hidden, n_frames, classes=None):
        """Mask logits (pre-sigmoid).

        Arguments
        ---------
        hidden : dict[str, torch.Tensor]
            ``{layer: [B, C_l, T_l, M_l]}`` with at least the layers of ``layer_channels``.
        n_frames : int
            STFT frames ``T`` of the input.
        classes : torch.Tensor, optional
            ``[B]`` class index per row: with ``n_masks > 1`` only that class's mask is computed.

        Returns
        -------
        torch.Tensor, ``[B, n_frames, n_freqs]`` (``[B, n_masks, n_frames, n_freqs]`` for several masks and no
        ``classes``)
        """
        missing = [name for name in self.layer_names if name not in hidden]
        if missing:
            raise KeyError(
                f"hidden maps lack layers {missing}; the decoder reads {self.layer_names}"
            )
        x = None
        for index in reversed(range(len(self.layer_names))):
            skip = self.lateral[index](hidden[self.layer_names[index]])
            x = skip if x is None else _fit(x, skip.shape[-2:]) + skip
            x = self.merge[index](x)
        x = self.refine(_fit(x, (int(n_frames), self.n_mels)))
        per_class = self.output(x)  # [B, n_masks, T, n_mels]
        if classes is not None and self.n_masks > 1:
            # pick each row's class before the (largest) mel-to-linear map
            return self.mel_to_linear(
                per_class[
                    torch.arange(per_class.shape[0], device=x.device), classes
                ]
            )
        logits = self.mel_to_linear(per_class)
        return logits.squeeze(1) if self.n_masks == 1 else logits

    def mask(self, hidden, n_frames, classes=None):
        """``sigmoid(forward(hidden, n_frames))``: the mask in [0, 1], ``[B, n_frames, n_freqs]``."""
        return torch.sigmoid(self.forward(hidden, n_frames, classes))


def total_variation(mask):
    """Per clip: mean ``|M[t+1, f] - M[t, f]|`` plus mean ``|M[t, f+1] - M[t, f]|``. ``[B, T, F] -> [B]``.

    Example
    -------
    >>> steps = torch.tensor(
    ...     [[[0.0, 1.0], [0.0, 1.0]]]
    ... )  # constant in time, a jump in frequency
    >>> total_variation(steps)
    tensor([1.])
    """
    along_time = (mask[:, 1:, :] - mask[:, :-1, :]).abs().flatten(1).mean(dim=1)
    along_freq = (mask[:, :, 1:] - mask[:, :, :-1]).abs().flatten(1).mean(dim=1)
    return along_time + along_freq


def masked_logits(classifier, magnitude, mask, domain="linear"):
    """The classifier's logits ``[B, C]`` on the masked-in and on the masked-out input, ``(in, out)``.

    Example
    -------
    >>> classifier = torch.nn.Sequential(
    ...     torch.nn.Flatten(), torch.nn.Linear(4 * 3, 2)
    ... )
    >>> magnitude, mask = torch.rand(2, 4, 3), torch.ones(2, 4, 3)
    >>> kept, removed = masked_logits(classifier, magnitude, mask)
    >>> torch.allclose(kept, classifier(magnitude)), kept.shape
    (True, torch.Size([2, 2]))
    """
    return (
        classifier(apply_mask(magnitude, mask, domain)),
        classifier(apply_mask(magnitude, 1 - mask, domain)),
    )


def _decision_loss(classifier, magnitude, target, logits=None):
    """Per-clip loss of the classifier's decision ``target [B]`` on ``magnitude`` (or on its ``logits`` when
    already computed): CE, or BCE (target 1) on that class's logit for a multi-label classifier. ``[B]``."""
    if logits is None:
        logits = classifier(magnitude)
    if getattr(classifier, "multilabel", False):
        chosen = logits.gather(1, target.unsqueeze(1)).squeeze(1)
        return F.binary_cross_entropy_with_logits(
            chosen, torch.ones_like(chosen), reduction="none"
        )
    return F.cross_entropy(logits, target, reduction="none")


def _cosine(a, b, eps=1e-8):
    """Cosine similarity over all but the batch axis, ``[B]``."""
    a, b = a.flatten(1), b.flatten(1)
    return (a * b).sum(dim=1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(eps)


def lmac_objective(
    classifier,
    magnitude,
    mask,
    target,
    l_in=4.0,
    l_out=0.2,
    l_1=6.4,
    l_tv=0.0,
    domain="linear",
    guidance=None,
    logits=None,
):
    """The L-MAC training loss, per clip, averaged over the batch.

    ``L = l_in * CE(f(M*|X|), c) - l_out * CE(f((1-M)*|X|), c) + l_1 * mean(M) + l_tv * TV(M)``, with
    ``c = target`` the classifier's decision on the unmasked input and masking done by
    :func:`~interpretability.spectral.apply_mask` in ``domain``. The default ``l_1 = 6.4`` is the weight the
    reference actually trained with: it writes 0.4 but sums its L1 term over its batch of 16.
    For a multi-label classifier (``classifier.multilabel``) each row explains one class ``target[b]`` and both
    cross-entropies become BCE-with-logits of that class's logit against 1.

    Fine-tuning guidance ("L-MAC FT"): ``guidance = {"clean_magnitude": [B, T, F], "weight": 4.0,
    "corr_threshold": 0.6, "oracle_threshold": 0.35}``. Clips whose ``M*|X|`` has cosine similarity
    ``>= corr_threshold`` with ``|X_clean|`` (over T x F) get ``weight * BCE(M, oracle_mask(|X_clean|))``
    instead of the L1 term; the others keep L1.

    Arguments
    ---------
    classifier : nn.Module
        Magnitude ``[B, T, F]`` -> logits ``[B, C]``; frozen by the caller.
    magnitude : torch.Tensor, ``[B, T, F]`` linear magnitude ``|X|``.
    mask : torch.Tensor, ``[B, T, F]`` in [0, 1].
    target : torch.Tensor, long ``[B]``.
    logits : the classifier's ``(in, out)`` logits of :func:`masked_logits` when already computed (evaluation,
        where the metrics need the same two forward passes); None: computed here.

    Returns
    -------
    (loss, terms) : the scalar loss, and a dict of detached batch means of the unweighted per-clip terms:
        ``in``, ``out`` (the two CEs), ``l1`` (mean(M), 0 for guided clips), ``tv``, ``guide`` (the BCE,
        0 for unguided clips), ``guided`` (share of guided clips) and ``mask_mean``, so that
        ``loss = l_in*in - l_out*out + l_1*l1 + l_tv*tv + weight*guide``.

    Example
    -------
    >>> classifier = torch.nn.Sequential(
    ...     torch.nn.Flatten(), torch.nn.Linear(4 * 3, 2)
    ... )
    >>> magnitude, mask = torch.rand(2, 4, 3), torch.full((2, 4, 3), 0.5)
    >>> loss, terms = lmac_objective(
    ...     classifier, magnitude, mask, torch.tensor([0, 1])
    ... )
    >>> loss.dim(), sorted(terms), float(terms["mask_mean"])
    (0, ['guide', 'guided', 'in', 'l1', 'mask_mean', 'out', 'tv'], 0.5)
    """
    if mask.shape != magnitude.shape or mask.dim() != 3:
        raise ValueError(
            f"mask and magnitude must both be [batch, time, freq], got {tuple(mask.shape)} "
            f"and {tuple(magnitude.shape)}"
        )
    if target.shape != (mask.shape[0],):
        raise ValueError(
            f"target must be [batch] = [{mask.shape[0]}], got {tuple(target.shape)}"
        )
    target = target.long()
    masked_in = apply_mask(magnitude, mask, domain)
    logits_in, logits_out = logits if logits is not None else (None, None)
    loss_in = _decision_loss(classifier, masked_in, target, logits_in)
    loss_out = _decision_loss(
        classifier,
        None
        if logits_out is not None
        else apply_mask(magnitude, 1 - mask, domain),
        target,
        logits_out,
    )
    mask_mean = mask.flatten(1).mean(dim=1)
    tv = total_variation(mask)

    guided = torch.zeros_like(mask_mean)
    guide = torch.zeros_like(mask_mean)
    weight = 0.0
    if guidance is not None:
        clean = guidance["clean_magnitude"]
        if clean.shape != magnitude.shape:
            raise ValueError(
                f"guidance clean_magnitude must match magnitude {tuple(magnitude.shape)}, got {tuple(clean.shape)}"
            )
        weight = float(guidance.get("weight", 4.0))
        with torch.no_grad():
            similarity = _cosine(masked_in, clean)
            guided = (
                similarity >= float(guidance.get("corr_threshold", 0.6))
            ).to(mask.dtype)
            oracle = oracle_mask(
                clean, float(guidance.get("oracle_threshold", 0.35))
            )
        # written out (logs clamped) rather than F.binary_cross_entropy, which refuses to run under autocast
        probability, oracle = mask.float(), oracle.float()
        bce = -(
            oracle * probability.clamp_min(1e-12).log()
            + (1 - oracle) * (1 - probability).clamp_min(1e-12).log()
        )
        bce = bce.flatten(1).mean(dim=1).to(mask_mean.dtype)
        guide = guided * bce

    l1 = (1 - guided) * mask_mean
    per_clip = (
        l_in * loss_in
        - l_out * loss_out
        + l_1 * l1
        + l_tv * tv
        + weight * guide
    )
    terms = {
        "in": loss_in.mean(),
        "out": loss_out.mean(),
        "l1": l1.mean(),
        "tv": tv.mean(),
        "guide": guide.mean(),
        "guided": guided.mean(),
        "mask_mean": mask_mean.mean(),
    }
    return per_clip.mean(), {
        name: value.detach() for name, value in terms.items()
    }
