"""Classifier heads and front ends besides the defaults (a linear head on ``log1p(mel80(|X|))``).

They exist so that published classifiers keep the exact computation they were trained with:

- :class:`CosineHead`: SpeechBrain's ``ECAPA_TDNN.Classifier`` (``[BatchNorm1d, Linear] x lin_blocks``, then the
  cosine between the embedding and one weight vector per class), with its parameter names, so its
  ``classifier.ckpt`` loads unchanged. Its logits are ``scale * cosine``.
- :class:`PANNsHead`: PANNs' ``fc1`` + ReLU + ``fc_audioset``.
- the PANNs log-mel front end lives in :mod:`interpretability.classifiers.panns`.

A description (a dict with a ``type``) rebuilds each of them; it is saved in the exported classifier's
``hyperparams.yaml`` under ``head`` / ``front_end``.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

HEAD_TYPES = ("linear", "cosine", "panns")
FRONT_END_TYPES = ("log1p_mel", "panns_logmel")


class _Norm(nn.Module):
    """``BatchNorm1d`` under the attribute name SpeechBrain's wrapper uses (``norm``)."""

    def __init__(self, size):
        super().__init__()
        self.norm = nn.BatchNorm1d(size)

    def forward(self, x):
        return self.norm(x)


class _Linear(nn.Module):
    """``Linear`` under the attribute name SpeechBrain's wrapper uses (``w``)."""

    def __init__(self, in_size, out_size):
        super().__init__()
        self.w = nn.Linear(in_size, out_size)

    def forward(self, x):
        return self.w(x)


class CosineHead(nn.Module):
    """SpeechBrain's ``ECAPA_TDNN.Classifier``: embedding ``[B, D]`` -> ``scale * cos(h(x), w_c)`` ``[B, C]``.

    ``h`` is ``lin_blocks`` x (BatchNorm1d, Linear to ``lin_neurons``). SpeechBrain's module returns the cosine
    itself; it was trained through an additive-angular-margin softmax of scale ``scale`` (30 in SpeechBrain's
    ESC-50 recipe), so ``scale * cosine`` are the logits whose softmax it was trained to produce. The argmax is the
    same for any scale.
    """

    def __init__(
        self, input_size, n_classes, lin_blocks=1, lin_neurons=192, scale=30.0
    ):
        super().__init__()
        self.blocks = nn.ModuleList()
        size = int(input_size)
        for _ in range(int(lin_blocks)):
            self.blocks.extend([_Norm(size), _Linear(size, int(lin_neurons))])
            size = int(lin_neurons)
        self.weight = nn.Parameter(torch.empty(int(n_classes), size))
        self.scale = float(scale)
        self.reset_parameters()

    def reset_parameters(self):
        nn.init.xavier_uniform_(self.weight)

    def forward(self, embedding):
        x = embedding
        for block in self.blocks:
            x = block(x)
        return self.scale * F.linear(F.normalize(x), F.normalize(self.weight))


class PANNsHead(nn.Module):
    """PANNs' head: ``fc_audioset(relu(fc1(x)))``; embedding ``[B, D]`` -> logits ``[B, C]`` (sigmoid outputs)."""

    def __init__(self, input_size, n_classes, hidden=2048):
        super().__init__()
        self.fc1 = nn.Linear(int(input_size), int(hidden))
        self.relu = nn.ReLU()
        self.fc_audioset = nn.Linear(int(hidden), int(n_classes))

    def forward(self, embedding):
        return self.fc_audioset(self.relu(self.fc1(embedding)))


def build_head(description, input_size, n_classes):
    """The head a description names (None for the default linear layer)."""
    if description is None:
        return None
    kwargs = dict(description)
    kind = kwargs.pop("type", "linear")
    if kind == "linear":
        return None
    if kind == "cosine":
        return CosineHead(input_size, n_classes, **kwargs)
    if kind == "panns":
        return PANNsHead(input_size, n_classes, **kwargs)
    raise ValueError(f"unknown head type {kind!r}; known: {HEAD_TYPES}")


def build_front_end(description, n_mels):
    """The front end a description names (None for the default ``log1p(mel(|X|))``)."""
    if description is None:
        return None
    kwargs = dict(description)
    kind = kwargs.pop("type", "log1p_mel")
    if kind == "log1p_mel":
        return None
    if kind == "panns_logmel":
        from interpretability.classifiers.panns import PANNsLogMel

        if int(kwargs.setdefault("n_mels", n_mels)) != int(n_mels):
            raise ValueError(
                f"front end has {kwargs['n_mels']} mel bands, the encoder {n_mels}"
            )
        return PANNsLogMel(**kwargs)
    raise ValueError(
        f"unknown front end type {kind!r}; known: {FRONT_END_TYPES}"
    )
