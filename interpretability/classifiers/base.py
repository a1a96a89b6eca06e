"""The classifier protocol every method relies on.

A :class:`SpectrogramClassifier` maps a linear magnitude spectrogram ``[B, T, F]`` to logits ``[B, C]``
through its own front end (``log1p(mel(.))`` by default; PANNs' dB log-mel for PANNs checkpoints), and exposes its
named hidden representations (what the L-MAC decoder and L2I's Psi read) and its modules by dotted path (what
AND hooks). The front end and the head are part of the description an exported classifier is rebuilt from.
"""

import torch
import torch.nn as nn

from interpretability.classifiers.cnn import CNN14Encoder, CompactCNNEncoder
from interpretability.spectral import N_MELS, MelFrontEnd

ARCHITECTURES = {
    "cnn14": CNN14Encoder,
    "compact_cnn": CompactCNNEncoder,
}


class SpectrogramClassifier(nn.Module):
    """Front end + encoder + linear head.

    Arguments
    ---------
    encoder : nn.Module
        Maps ``[B, T, n_mels]`` to ``(embedding [B, D], {name: [B, C, T', M']})`` and has ``emb_dim`` and
        ``interpretable_layers``.
    n_classes : int
    n_mels : int
    multilabel : bool
        Sigmoid outputs (SONYC-UST) instead of softmax.
    config : dict
        The arguments that rebuild this model with :func:`build_classifier` (saved on export).
    front_end : nn.Module, optional
        Magnitude ``[B, T, F]`` -> encoder input ``[B, T', n_mels]``; default ``log1p(mel(.))``.
    head : nn.Module, optional
        Embedding ``[B, D]`` -> logits ``[B, C]``; default a linear layer.
    """

    def __init__(
        self,
        encoder,
        n_classes,
        n_mels=N_MELS,
        multilabel=False,
        config=None,
        front_end=None,
        head=None,
    ):
        super().__init__()
        self.front_end = (
            front_end if front_end is not None else MelFrontEnd(n_mels)
        )
        self.encoder = encoder
        self.head = (
            head if head is not None else nn.Linear(encoder.emb_dim, n_classes)
        )
        self.n_classes = n_classes
        self.multilabel = multilabel
        self.config = dict(config or {})

    @property
    def interpretable_layers(self):
        """Names of the hidden representations interpreters read, shallowest first."""
        return list(self.encoder.interpretable_layers)

    def forward_with_hidden(self, magnitude):
        """``[B, T, F]`` magnitude -> ``(logits [B, C], {layer: [B, C_l, T_l, M_l]})``."""
        embedding, hidden = self.encoder(self.front_end(magnitude))
        return self.head(embedding), {
            name: hidden[name] for name in self.interpretable_layers
        }

    def forward(self, magnitude):
        embedding, _ = self.encoder(self.front_end(magnitude))
        return self.head(embedding)

    def resume_point(self, layers):
        """Where a forward in which the modules ``layers`` (dotted names) are altered by hooks can start from the
        intact forward's activations: the block before the earliest of them (``encoder.<block>``), or ``encoder``
        (its embedding) when only ``head`` is among them. None when one of them is not a block of a block encoder
        or the head, or the earliest is the first block: then only a whole forward is exact."""
        blocks = list(getattr(self.encoder, "block_names", ()))
        steps = [f"encoder.{name}" for name in blocks] + ["head"]
        if (
            not blocks
            or not layers
            or any(name not in steps for name in layers)
        ):
            return None
        first = min(steps.index(layer) for layer in layers)
        if steps[first] == "head":
            return "encoder"
        return steps[first - 1] if first > 0 else None

    def forward_after(self, point, output):
        """Logits ``[B, C]`` from ``output``, the output of the module ``point`` of :meth:`resume_point` (the
        encoder's: its embedding ``[B, emb_dim]``)."""
        if point == "encoder":
            return self.head(output)
        return self.head(
            self.encoder.forward_after(point.split(".", 1)[1], output)
        )

    def probabilities(self, logits):
        """Softmax over classes, or per-class sigmoid for a multi-label model."""
        return (
            torch.sigmoid(logits)
            if self.multilabel
            else torch.softmax(logits, dim=-1)
        )

    def decisions(self, logits, threshold=0.5):
        """The classifier's decision: argmax ``[B]``, or ``[B, C]`` 0/1 above ``threshold`` if multi-label."""
        if self.multilabel:
            return (torch.sigmoid(logits) >= threshold).long()
        return logits.argmax(dim=-1)


def build_classifier(
    architecture,
    n_classes,
    n_mels=N_MELS,
    multilabel=False,
    front_end=None,
    head=None,
    **encoder_kwargs,
):
    """Build a classifier by architecture name (``cnn14``, ``compact_cnn`` or ``ast``).

    ``encoder_kwargs`` go to the encoder (``emb_dim``, ``channels``, ``norm_type``). ``front_end`` and ``head``
    are descriptions (dicts with a ``type``, see :mod:`interpretability.classifiers.heads` and
    :mod:`interpretability.classifiers.panns`); None keeps the defaults, ``log1p(mel80)`` and a linear head.
    """
    if (
        architecture == "ast"
    ):  # transformers' AST brings its own front end and head (classifiers/ast.py)
        from interpretability.classifiers.ast import build_ast_classifier

        return build_ast_classifier(
            n_classes, n_mels=n_mels, multilabel=multilabel, **encoder_kwargs
        )
    if architecture not in ARCHITECTURES:
        raise ValueError(
            f"unknown classifier architecture {architecture!r}; known: {sorted(ARCHITECTURES)}"
        )
    from interpretability.classifiers.heads import build_front_end, build_head

    encoder_kwargs = {
        k: (list(v) if isinstance(v, tuple) else v)
        for k, v in encoder_kwargs.items()
    }
    encoder = ARCHITECTURES[architecture](n_mels=n_mels, **encoder_kwargs)
    config = dict(
        architecture=architecture,
        n_classes=int(n_classes),
        n_mels=int(n_mels),
        multilabel=bool(multilabel),
        **encoder_kwargs,
    )
    if front_end is not None:
        config["front_end"] = dict(front_end)
    if head is not None:
        config["head"] = dict(head)
    return SpectrogramClassifier(
        encoder,
        n_classes,
        n_mels=n_mels,
        multilabel=multilabel,
        config=config,
        front_end=build_front_end(front_end, n_mels),
        head=build_head(head, encoder.emb_dim, n_classes),
    )


def count_parameters(module, trainable_only=False):
    """Number of parameters of a module."""
    return sum(
        p.numel()
        for p in module.parameters()
        if p.requires_grad or not trainable_only
    )
