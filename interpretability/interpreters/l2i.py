"""L2I, Listen to Interpret (Parekh et al., NeurIPS 2022; docs/methods.md, "L2I").

``Psi`` (:class:`L2IPsi`) maps the frozen classifier's hidden representations to non-negative activations
``H`` ``[B, K, T]`` of the ``K`` atoms of a frozen NMF dictionary ``W`` ``[F, K]`` (interpreters/nmf.py), at the
STFT frame rate. ``Theta`` (:class:`L2ITheta`) pools ``H`` over time with gated attention (Ilse et al. 2018)
into ``z`` ``[B, K]`` and a bias-free linear layer gives class scores ``theta z``. Training (:func:`l2i_objective`)
makes Theta mimic the classifier while ``W H`` reconstructs the input spectrogram.

An explanation of class ``c`` keeps the components whose relevance ``r_k = z_k theta_{c,k} / max_l |z_l
theta_{c,l}|`` exceeds ``tau`` (:func:`relevance`) and turns them into a soft mask on the STFT grid,
``M = sum_{k in L} w_k h_k / (W H + eps)`` (:func:`component_mask`), so the shared evaluation and listenable
export of every interpreter apply unchanged.
"""

import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from interpretability.classifiers.io import HPARAMS_FILE
from interpretability.errors import CheckpointError
from interpretability.interpreters.io import DECODER_FILE, interpreter_folder
from interpretability.interpreters.lmac import _fit as fit_to_grid
from interpretability.interpreters.nmf import read_description
from interpretability.spectral import apply_mask

FREQ_POOLS = ("mean", "max")
ACTIVATIONS = ("relu", "softplus")


class L2IPsi(nn.Module):
    """Hidden maps ``{layer: [B, C_l, T_l, M_l]}`` -> non-negative activations ``H`` ``[B, K, T]``.

    Each map is pooled over its frequency axis to ``freq_bands`` bands (``freq_pool``: mean or max; 1 band is a
    plain pooling over frequency), resized in time to the ``T`` STFT frames (integer-factor upsampling aligned
    with the classifier's pooling, as the L-MAC decoder does), the maps are concatenated over (channel, band)
    and a temporal convolution (``kernel_size`` frames, GroupNorm + ReLU, per sample so ``H`` does not depend on
    the rest of the batch) and a 1x1 convolution give ``K`` channels, made non-negative by ``activation``.

    Arguments
    ---------
    layer_channels : dict[str, int], channels of the hidden maps read, shallow -> deep.
    n_components : int, ``K``, the atoms of the NMF dictionary.
    width : int, channels between the two convolutions.
    freq_pool : ``mean`` or ``max``.
    freq_bands : int, frequency bands kept per map (fewer when a map has fewer bins).
    kernel_size : int (odd), frames seen by the first convolution.
    activation : ``relu`` (exact zeros) or ``softplus``.

    Example
    -------
    >>> psi = L2IPsi(
    ...     {"block1": 8, "block2": 16},
    ...     n_components=5,
    ...     width=12,
    ...     freq_bands=2,
    ...     kernel_size=3,
    ... )
    >>> hidden = {
    ...     "block1": torch.randn(2, 8, 20, 40),
    ...     "block2": torch.randn(2, 16, 10, 20),
    ... }
    >>> activations = psi(hidden, n_frames=44)
    >>> activations.shape, bool((activations >= 0).all())
    (torch.Size([2, 5, 44]), True)
    """

    def __init__(
        self,
        layer_channels,
        n_components,
        width=256,
        freq_pool="mean",
        freq_bands=1,
        kernel_size=1,
        activation="relu",
    ):
        super().__init__()
        if not layer_channels:
            raise ValueError(
                "layer_channels must name at least one hidden layer"
            )
        if freq_pool not in FREQ_POOLS:
            raise ValueError(
                f"freq_pool must be one of {FREQ_POOLS}, got {freq_pool!r}"
            )
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {ACTIVATIONS}, got {activation!r}"
            )
        if (
            int(freq_bands) < 1
            or int(kernel_size) < 1
            or int(kernel_size) % 2 == 0
        ):
            raise ValueError(
                f"freq_bands must be >= 1 and kernel_size odd, got {freq_bands} and {kernel_size}"
            )
        self.layer_channels = {
            name: int(c) for name, c in layer_channels.items()
        }
        self.layer_names = list(self.layer_channels)
        self.n_components = int(n_components)
        self.freq_pool = freq_pool
        self.freq_bands = int(freq_bands)
        self.activation = activation
        self.config = dict(
            layer_channels=dict(self.layer_channels),
            n_components=self.n_components,
            width=width,
            freq_pool=freq_pool,
            freq_bands=self.freq_bands,
            kernel_size=int(kernel_size),
            activation=activation,
        )
        total = sum(self.layer_channels.values()) * self.freq_bands
        self.project = nn.Conv1d(
            total, width, int(kernel_size), padding=int(kernel_size) // 2
        )
        self.norm = nn.GroupNorm(1, width)
        self.output = nn.Conv1d(width, self.n_components, 1)

    def _bands(self, h):
        """``[B, C, T_l, M_l]`` -> ``[B, C * freq_bands, T_l]`` (bands repeated when ``M_l < freq_bands``, so
        every layer contributes the same number of features per channel)."""
        size = (h.shape[2], self.freq_bands)
        if self.freq_pool == "mean":
            pooled = (
                F.adaptive_avg_pool2d(h, size)
                if h.shape[3] >= self.freq_bands
                else F.interpolate(
                    h.mean(dim=3, keepdim=True), size=size, mode="nearest"
                )
            )
        else:
            pooled = (
                F.adaptive_max_pool2d(h, size)
                if h.shape[3] >= self.freq_bands
                else F.interpolate(
                    h.amax(dim=3, keepdim=True), size=size, mode="nearest"
                )
            )
        return pooled.permute(0, 1, 3, 2).reshape(h.shape[0], -1, h.shape[2])

    def pooled(self, hidden, n_frames):
        """The concatenated frequency-pooled maps on the STFT frame axis, ``[B, sum C_l * bands, n_frames]``."""
        missing = [name for name in self.layer_names if name not in hidden]
        if missing:
            raise KeyError(
                f"hidden maps lack layers {missing}; Psi reads {self.layer_names}"
            )
        maps = []
        for name in self.layer_names:
            h = self._bands(hidden[name])  # [B, C * bands, T_l]
            maps.append(
                fit_to_grid(h.unsqueeze(-1), (int(n_frames), 1)).squeeze(-1)
            )
        return torch.cat(maps, dim=1)

    def forward(self, hidden, n_frames):
        """``H`` ``[B, K, n_frames]``, non-negative."""
        x = self.output(
            F.relu(self.norm(self.project(self.pooled(hidden, n_frames))))
        )
        return F.relu(x) if self.activation == "relu" else F.softplus(x)


class GatedAttentionPooling(nn.Module):
    """Ilse et al. (2018): ``a_t = softmax_t(w^T (tanh(V h_t) * sigmoid(U h_t)))``, ``z = sum_t a_t h_t``.

    ``[B, K, T]`` -> ``(z [B, K], a [B, T])``.

    Example
    -------
    >>> pooling = GatedAttentionPooling(n_inputs=5, attention_dim=8)
    >>> pooled, attention = pooling(torch.rand(2, 5, 44))
    >>> (
    ...     pooled.shape,
    ...     attention.shape,
    ...     bool(torch.allclose(attention.sum(dim=1), torch.ones(2))),
    ... )
    (torch.Size([2, 5]), torch.Size([2, 44]), True)
    """

    def __init__(self, n_inputs, attention_dim=64):
        super().__init__()
        self.V = nn.Linear(n_inputs, attention_dim)
        self.U = nn.Linear(n_inputs, attention_dim)
        self.w = nn.Linear(attention_dim, 1, bias=False)

    def weights(self, activations):
        """Attention ``[B, T]`` (sums to 1 over time) for ``[B, K, T]``."""
        frames = activations.transpose(1, 2)  # [B, T, K]
        scores = self.w(
            torch.tanh(self.V(frames)) * torch.sigmoid(self.U(frames))
        ).squeeze(-1)
        return torch.softmax(scores, dim=1)

    def forward(self, activations):
        attention = self.weights(activations)
        return torch.einsum("bkt,bt->bk", activations, attention), attention


class L2ITheta(nn.Module):
    """Gated-attention pooling over time + bias-free linear head: ``H [B, K, T]`` -> ``(scores [B, C], z [B, K],
    attention [B, T])``. ``head.weight`` is ``theta`` ``[C, K]``.

    Example
    -------
    >>> theta = L2ITheta(n_components=5, n_classes=3, attention_dim=8)
    >>> scores, pooled, attention = theta(torch.rand(2, 5, 44))
    >>> scores.shape, theta.head.weight.shape
    (torch.Size([2, 3]), torch.Size([3, 5]))
    """

    def __init__(self, n_components, n_classes, attention_dim=64):
        super().__init__()
        self.config = dict(
            n_components=int(n_components),
            n_classes=int(n_classes),
            attention_dim=attention_dim,
        )
        self.pool = GatedAttentionPooling(n_components, attention_dim)
        self.head = nn.Linear(n_components, n_classes, bias=False)

    def forward(self, activations):
        pooled, attention = self.pool(activations)
        return self.head(pooled), pooled, attention


class L2IInterpreter(nn.Module):
    """Psi, Theta and the frozen dictionary ``W`` (a buffer), with what an explanation needs.

    Arguments
    ---------
    psi : L2IPsi
    theta : L2ITheta
    dictionary : torch.Tensor, ``[F, K]`` non-negative, unit-norm columns.
    domain : the dictionary's domain (``log1p`` or ``linear``), that of the reconstruction target.
    tau : relevance threshold for keeping a component.
    eps : added to ``W H`` in the mask's denominator.

    Example
    -------
    >>> psi = L2IPsi({"block1": 8}, n_components=4, width=8)
    >>> theta = L2ITheta(n_components=4, n_classes=3, attention_dim=8)
    >>> interpreter = L2IInterpreter(psi, theta, torch.rand(513, 4))
    >>> mask = interpreter.mask(
    ...     {"block1": torch.randn(2, 8, 20, 40)},
    ...     n_frames=44,
    ...     classes=torch.tensor([0, 2]),
    ... )
    >>> mask.shape, bool(((mask >= 0) & (mask <= 1)).all())
    (torch.Size([2, 44, 513]), True)
    """

    def __init__(
        self, psi, theta, dictionary, domain="log1p", tau=0.2, eps=1e-6
    ):
        super().__init__()
        if (
            dictionary.shape[1] != psi.n_components
            or theta.config["n_components"] != psi.n_components
        ):
            raise ValueError(
                f"the dictionary has {dictionary.shape[1]} atoms, Psi outputs {psi.n_components} and "
                f"Theta reads {theta.config['n_components']}: they must agree"
            )
        self.psi = psi
        self.theta = theta
        self.register_buffer("dictionary", dictionary.detach().float().clone())
        self.domain = domain
        self.tau = float(tau)
        self.eps = float(eps)

    @property
    def config(self):
        return dict(
            psi=dict(self.psi.config),
            theta=dict(self.theta.config),
            domain=self.domain,
            tau=self.tau,
            eps=self.eps,
            n_features=int(self.dictionary.shape[0]),
        )

    def forward(self, hidden, n_frames):
        """``(H [B, K, T], scores [B, C], z [B, K], attention [B, T])``."""
        activations = self.psi(hidden, n_frames)
        scores, pooled, attention = self.theta(activations)
        return activations, scores, pooled, attention

    def mask(self, hidden, n_frames, classes):
        """The explanation mask ``[B, T, F]`` of ``classes`` ``[B]`` (the interface of ``LMACDecoder.mask``)."""
        activations, _, pooled, _ = self(hidden, n_frames)
        return self.explain(activations, pooled, classes)[0]

    def explain(self, activations, pooled, classes):
        """Masks ``[B, T, F]`` and selected components ``[B, K]`` (bool) for ``classes`` ``[B]``."""
        selected = relevance(pooled, self.theta.head.weight, classes) > self.tau
        return component_mask(
            self.dictionary, activations, selected, self.eps
        ), selected


def relevance(pooled, theta, classes, eps=1e-12):
    """``r_k = z_k theta_{c,k} / max_l |z_l theta_{c,l}|`` per row; 0 where every contribution is 0.

    ``pooled`` ``[B, K]`` (``z``), ``theta`` ``[C, K]``, ``classes`` long ``[B]`` -> ``[B, K]``.

    Example
    -------
    >>> pooled = torch.tensor([[1.0, 2.0, 0.5]])
    >>> theta = torch.tensor([[1.0, -1.0, 2.0], [0.0, 1.0, 0.0]])
    >>> relevance(
    ...     pooled, theta, torch.tensor([0])
    ... )  # contributions 1, -2, 1 over max |2|
    tensor([[ 0.5000, -1.0000,  0.5000]])
    """
    contribution = pooled * theta[classes.long()]
    scale = contribution.abs().amax(dim=1, keepdim=True)
    return contribution / scale.clamp_min(eps)


def component_mask(dictionary, activations, selected, eps=1e-6):
    """``M = sum_{k in L} w_k h_k / (W H + eps)``, clipped to [0, 1], on the ``[B, T, F]`` grid.

    ``dictionary`` ``[F, K]``, ``activations`` ``[B, K, T]``, ``selected`` ``[B, K]`` (bool or 0/1 weights).

    Example
    -------
    >>> dictionary = torch.tensor(
    ...     [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
    ... )  # F = 3, K = 2
    >>> activations = torch.ones(1, 2, 4)  # B = 1, K = 2, T = 4
    >>> component_mask(dictionary, activations, torch.tensor([[True, False]]))[
    ...     0, 0
    ... ]  # bin 3: half of W H
    tensor([1.0000, 0.0000, 0.5000])
    """
    full = torch.einsum("fk,bkt->btf", dictionary, activations)
    part = torch.einsum(
        "fk,bkt->btf",
        dictionary,
        activations * selected.to(activations.dtype).unsqueeze(-1),
    )
    return (part / (full + eps)).clamp(0.0, 1.0)


def component_masks(dictionary, activations, components, eps=1e-6):
    """One mask per listed component, ``w_k h_k / (W H + eps)``: ``[B, K, T]``, ``components`` long ``[n]``
    -> ``[B, n, T, F]`` (what each selected component sounds like alone).

    Example
    -------
    >>> dictionary = torch.tensor(
    ...     [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
    ... )  # F = 3, K = 2
    >>> activations = torch.ones(1, 2, 4)  # B = 1, K = 2, T = 4
    >>> component_masks(dictionary, activations, torch.tensor([0, 1])).shape
    torch.Size([1, 2, 4, 3])
    """
    full = torch.einsum("fk,bkt->btf", dictionary, activations)
    parts = torch.einsum(
        "fn,bnt->bntf", dictionary[:, components], activations[:, components]
    )
    return (parts / (full.unsqueeze(1) + eps)).clamp(0.0, 1.0)


def remove_components(
    magnitude, dictionary, activations, removed, mask_domain="linear", eps=1e-6
):
    """The input minus the ``removed`` components, as a linear magnitude ``[B, T, F]``.

    The components' share of the input is taken out with the complement of their soft mask,
    ``apply_mask(|X|, 1 - M_removed, mask_domain)`` (:func:`component_mask`): in the default linear domain this is
    ``|X| - M_removed |X|``, the input minus the listenable explanation the components make (L2I's ``x - x_int``),
    so removing the selected components is exactly the masked-out input the shared FF metric scores.
    ``dictionary`` ``[F, K]``, ``activations`` ``[B, K, T]``, ``removed`` ``[B, K]`` bool.

    Example
    -------
    >>> dictionary = torch.tensor(
    ...     [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
    ... )  # F = 3, K = 2
    >>> activations = torch.ones(1, 2, 4)  # B = 1, K = 2, T = 4
    >>> magnitude = torch.full((1, 4, 3), 2.0)
    >>> without = remove_components(
    ...     magnitude, dictionary, activations, torch.tensor([[True, False]])
    ... )
    >>> [round(v, 4) for v in without[0, 0].tolist()]
    [0.0, 2.0, 1.0]
    """
    mask = component_mask(dictionary, activations, removed, eps)
    return apply_mask(magnitude, 1.0 - mask, mask_domain)


def removed_energy(
    magnitude, dictionary, activations, removed, mask_domain="linear", eps=1e-6
):
    """Energy of what removing the ``removed`` components takes out of the input, ``||X - X_without||^2`` per row
    ``[B]`` (``X_without`` from :func:`remove_components`; linear magnitudes).

    Example
    -------
    >>> dictionary = torch.tensor(
    ...     [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
    ... )  # F = 3, K = 2
    >>> activations = torch.ones(1, 2, 4)  # B = 1, K = 2, T = 4
    >>> magnitude = torch.full((1, 4, 3), 2.0)
    >>> removed_energy(
    ...     magnitude, dictionary, activations, torch.tensor([[True, False]])
    ... )  # 4 frames x (4 + 1)
    tensor([20.0000])
    """
    without = remove_components(
        magnitude, dictionary, activations, removed, mask_domain, eps
    )
    return (magnitude - without).pow(2).flatten(1).sum(dim=1)


MATCHED_BY = ("energy", "area")
PREFIX_BLOCK = 8  # prefixes of the random control's draw evaluated together


def matched_random_components(
    magnitude,
    dictionary,
    activations,
    selected,
    generator,
    candidates=None,
    mask_domain="linear",
    eps=1e-6,
    match="energy",
):
    """The random control of component removal, matched to what removing the ``selected`` components removes.

    Per row, the ``candidates`` (bool ``[B, K]``, e.g. the components active in the clip; default all) are drawn in
    a random order (with ``generator``, CPU) and added one at a time until what their removal takes out reaches what
    removing the ``selected`` ones takes out; of the last two prefixes, the one closer to it is kept (at least one
    component). ``match``: ``energy`` (:func:`removed_energy`, the stricter control: the classifier responds to
    energy) or ``area`` (the mean of the removal mask, as many cells). The draw includes the selected components:
    L2I often selects the components that hold most of the clip's energy, and the others alone could then not remove
    as much (a control limited to them would remove less and flatter the explanation). Rows with nothing selected
    get an empty control.

    ``magnitude`` ``[B, T, F]``, ``dictionary`` ``[F, K]``, ``activations`` ``[B, K, T]``, ``selected`` ``[B, K]``
    bool. Returns ``[B, K]`` bool.

    Example
    -------
    >>> dictionary = torch.tensor(
    ...     [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
    ... )  # F = 3, K = 2
    >>> activations = torch.ones(1, 2, 4)  # B = 1, K = 2, T = 4
    >>> magnitude = torch.full((1, 4, 3), 2.0)
    >>> control = matched_random_components(
    ...     magnitude,
    ...     dictionary,
    ...     activations,
    ...     torch.tensor([[True, False]]),
    ...     torch.Generator().manual_seed(0),
    ... )
    >>> (
    ...     control.shape,
    ...     int(control.sum()),
    ... )  # one component removes as much energy as the selected one
    (torch.Size([1, 2]), 1)
    """
    if match not in MATCHED_BY:
        raise ValueError(f"match must be one of {MATCHED_BY}, got {match!r}")
    rows, n_components = selected.shape
    selected = selected.bool()
    allowed = (
        torch.ones_like(selected)
        if candidates is None
        else candidates.bool() | selected
    )

    def amounts(
        row, masks
    ):  # what removing each of ``masks`` [n, T, F] from the row's input takes out, [n]
        if match == "area":
            return masks.flatten(1).mean(dim=1)
        taken = magnitude[row] - apply_mask(
            magnitude[row], 1.0 - masks, mask_domain
        )
        return taken.pow(2).flatten(1).sum(dim=1)

    keys = torch.rand(rows, n_components, generator=generator).to(
        magnitude.device
    )
    order = keys.masked_fill(~allowed, 2.0).argsort(dim=1)
    target_masks = component_mask(dictionary, activations, selected, eps)
    control = torch.zeros_like(selected)
    for row in range(rows):
        if not selected[row].any():
            continue
        target = float(amounts(row, target_masks[row : row + 1])[0])
        drawn = order[row, : int(allowed[row].sum())]
        full = (dictionary @ activations[row]).T + eps  # [T, F]
        # the prefixes of the random order, a block of them at a time (most rows stop within the first block)
        running, prefix, count = torch.zeros_like(full), [], len(drawn)
        for start in range(0, len(drawn), PREFIX_BLOCK):
            block = drawn[start : start + PREFIX_BLOCK]
            parts = running + torch.einsum(
                "fn,nt->ntf", dictionary[:, block], activations[row, block]
            ).cumsum(dim=0)
            running = parts[-1]
            prefix += amounts(row, (parts / full).clamp(0.0, 1.0)).tolist()
            reached = [
                i
                for i, value in enumerate(prefix)
                if value >= target * (1 - 1e-6)
            ]
            if reached:
                count = reached[0] + 1
                if (
                    count > 1
                    and target - prefix[count - 2] < prefix[count - 1] - target
                ):
                    count -= 1  # the shorter prefix is closer
                break
        control[row, drawn[:count]] = True
    return control


def fidelity_loss(theta_scores, classifier_logits, multilabel=False):
    """Per clip ``[B]``: cross-entropy of Theta's softmax against the soft target ``softmax(f(x))``; for a
    multi-label classifier the element-wise BCE of Theta's sigmoids against ``sigmoid(f(x))``, summed over the
    classes (as the multi-class cross-entropy sums over them, so the term weighs the same against the
    reconstruction and sparsity terms whatever the number of classes it has to fit).

    Example
    -------
    >>> logits = torch.tensor([[2.0, 0.0]])
    >>> bool(
    ...     fidelity_loss(logits, logits) < fidelity_loss(-logits, logits)
    ... )  # Theta agreeing costs less
    True
    """
    if multilabel:
        target = torch.sigmoid(classifier_logits)
        return F.binary_cross_entropy_with_logits(
            theta_scores, target, reduction="none"
        ).sum(dim=1)
    target = torch.softmax(classifier_logits, dim=1)
    return -(target * torch.log_softmax(theta_scores, dim=1)).sum(dim=1)


def l2i_objective(
    theta_scores,
    classifier_logits,
    target_spectrogram,
    dictionary,
    activations,
    alpha=10.0,
    beta=0.8,
    multilabel=False,
):
    """The L2I training loss ``L = L_fid + alpha * ||V - W H||^2 + beta * |H|_1``, per clip, averaged over the batch.

    Normalisation: the reconstruction term is the **mean** squared error over the ``T x F`` cells of the clip
    and the sparsity term the **mean** of ``H`` over its ``K x T`` entries, so neither grows with the clip
    length, the number of frequency bins or the dictionary size; ``L_fid`` is per clip (:func:`fidelity_loss`).

    Arguments
    ---------
    theta_scores : ``[B, C]`` Theta's logits.
    classifier_logits : ``[B, C]`` the frozen classifier's logits (targets, not differentiated).
    target_spectrogram : ``[B, T, F]`` ``V``, the spectrogram in the dictionary's domain (``log1p|X|``).
    dictionary : ``[F, K]`` ``W`` (frozen).
    activations : ``[B, K, T]`` ``H``, non-negative.

    Returns
    -------
    (loss, terms): the scalar loss and the detached batch means of ``fid``, ``rec``, ``l1``, so that
    ``loss = fid + alpha * rec + beta * l1``.

    Example
    -------
    >>> dictionary = torch.tensor(
    ...     [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
    ... )  # F = 3, K = 2
    >>> activations = torch.ones(1, 2, 4)  # B = 1, K = 2, T = 4
    >>> target = torch.einsum(
    ...     "fk,bkt->btf", dictionary, activations
    ... )  # reconstructed exactly
    >>> loss, terms = l2i_objective(
    ...     torch.zeros(1, 3),
    ...     torch.zeros(1, 3),
    ...     target,
    ...     dictionary,
    ...     activations,
    ... )
    >>> round(float(terms["rec"]), 6), float(terms["l1"])
    (0.0, 1.0)
    """
    fid = fidelity_loss(theta_scores, classifier_logits.detach(), multilabel)
    reconstruction = torch.einsum("fk,bkt->btf", dictionary, activations)
    rec = (target_spectrogram - reconstruction).pow(2).flatten(1).mean(dim=1)
    l1 = activations.abs().flatten(1).mean(dim=1)
    loss = (fid + alpha * rec + beta * l1).mean()
    terms = {"fid": fid.mean(), "rec": rec.mean(), "l1": l1.mean()}
    return loss, {name: value.detach() for name, value in terms.items()}


def load_l2i(folder, device="cpu"):
    """Load the L2I interpreter of an interpreter folder (``train_l2i.py``'s ``<output_folder>/interpreter/``,
    written by :func:`~interpretability.interpreters.io.export_interpreter`: its ``decoder.ckpt`` holds Psi, Theta and
    the dictionary). Returns ``(L2IInterpreter, description)``; a folder that is not an L2I interpreter, or whose
    checkpoint does not match its ``hyperparams.yaml``, raises :class:`CheckpointError` naming the file.

    Example
    -------
    >>> import tempfile
    >>> from interpretability.interpreters.io import export_interpreter
    >>> psi = L2IPsi({"block1": 8}, n_components=4, width=8)
    >>> interpreter = L2IInterpreter(
    ...     psi, L2ITheta(4, 3, attention_dim=8), torch.rand(513, 4)
    ... )
    >>> classifier_folder = (
    ...     tempfile.mkdtemp()
    ... )  # an exported classifier in a real run
    >>> folder = export_interpreter(
    ...     os.path.join(tempfile.mkdtemp(), "interpreter"),
    ...     interpreter,
    ...     interpreter.config,
    ...     classifier_folder,
    ...     method="l2i",
    ... )
    >>> loaded, description = load_l2i(folder)
    >>> (
    ...     bool(torch.equal(loaded.dictionary, interpreter.dictionary)),
    ...     description["method"],
    ... )
    (True, 'l2i')
    """
    folder = interpreter_folder(folder)
    description_path = os.path.join(folder, HPARAMS_FILE)
    description = read_description(
        description_path, "the interpreter description"
    )
    if description.get("method") != "l2i":
        raise CheckpointError(
            f"{description_path}: not an L2I interpreter (method {description.get('method')!r})"
        )
    try:
        config = description["decoder"]
        psi = L2IPsi(**config["psi"])
        theta = L2ITheta(**config["theta"])
        dictionary = torch.zeros(int(config["n_features"]), psi.n_components)
        interpreter = L2IInterpreter(
            psi,
            theta,
            dictionary,
            domain=config["domain"],
            tau=config["tau"],
            eps=config["eps"],
        )
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(
            f"{description_path}: its L2I description is incomplete or invalid ({err})"
        ) from None
    path = os.path.join(folder, DECODER_FILE)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        interpreter.load_state_dict(state)
    except (RuntimeError, OSError, KeyError, AttributeError) as err:
        raise CheckpointError(
            f"{path}: checkpoint does not match the L2I interpreter in {HPARAMS_FILE} "
            f"({str(err).splitlines()[0] if str(err) else type(err).__name__})"
        ) from None
    return interpreter.to(device).eval(), description
