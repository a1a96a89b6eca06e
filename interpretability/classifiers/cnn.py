"""Convolutional sound classifiers on ``log1p(mel(|X|))``.

``CNN14Encoder`` has the parameter names of SpeechBrain's ``speechbrain.lobes.models.Cnn14.Cnn14`` so its
checkpoints (e.g. ``embedding_model.ckpt``) load unchanged, but its ReLUs are modules, so captum's guided
methods (Guided Backprop, Guided GradCAM) can override them; SpeechBrain's lobe uses in-place functional
ReLUs, which silently turns those methods into plain gradients.

``CompactCNNEncoder`` is the CNN6 of PANNs (one 5x5 conv per block), with configurable widths, for CPU-sized
runs.
"""

import torch.nn as nn
import torch.nn.functional as F


def _init_conv(layer):
    nn.init.xavier_uniform_(layer.weight)
    if layer.bias is not None:
        layer.bias.data.zero_()


def _norm(kind, channels):
    if kind == "bn":
        return nn.BatchNorm2d(channels)
    if kind == "in":
        return nn.InstanceNorm2d(
            channels, affine=True, track_running_stats=True
        )
    if kind == "ln":
        return nn.GroupNorm(1, channels)
    raise ValueError(
        f"unknown norm type {kind!r} (expected 'bn', 'in' or 'ln')"
    )


def _pool(x, pool_size, pool_type):
    if pool_size == (1, 1):
        return x
    if pool_type == "avg":
        return F.avg_pool2d(x, kernel_size=pool_size)
    if pool_type == "max":
        return F.max_pool2d(x, kernel_size=pool_size)
    if pool_type == "avg+max":
        return F.avg_pool2d(x, kernel_size=pool_size) + F.max_pool2d(
            x, kernel_size=pool_size
        )
    raise ValueError(f"unknown pool type {pool_type!r}")


class ConvBlock(nn.Module):
    """Two 3x3 conv + norm + ReLU, then pooling. ``[B, C_in, T, M] -> [B, C_out, T/p, M/p]``."""

    def __init__(
        self,
        in_channels,
        out_channels,
        norm_type="bn",
        pool_size=(2, 2),
        pool_type="avg",
    ):
        super().__init__()
        self.conv1 = nn.Conv2d(
            in_channels, out_channels, 3, padding=1, bias=False
        )
        self.conv2 = nn.Conv2d(
            out_channels, out_channels, 3, padding=1, bias=False
        )
        self.norm1 = _norm(norm_type, out_channels)
        self.norm2 = _norm(norm_type, out_channels)
        self.relu1 = nn.ReLU()
        self.relu2 = nn.ReLU()
        self.pool_size = tuple(pool_size)
        self.pool_type = pool_type
        _init_conv(self.conv1)
        _init_conv(self.conv2)

    def forward(self, x):
        x = self.relu1(self.norm1(self.conv1(x)))
        x = self.relu2(self.norm2(self.conv2(x)))
        return _pool(x, self.pool_size, self.pool_type)


class SingleConvBlock(nn.Module):
    """One 5x5 conv + norm + ReLU, then pooling (PANNs' CNN6 block)."""

    def __init__(
        self,
        in_channels,
        out_channels,
        norm_type="bn",
        pool_size=(2, 2),
        pool_type="avg",
    ):
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels, out_channels, 5, padding=2, bias=False
        )
        self.norm = _norm(norm_type, out_channels)
        self.relu = nn.ReLU()
        self.pool_size = tuple(pool_size)
        self.pool_type = pool_type
        _init_conv(self.conv)

    def forward(self, x):
        return _pool(
            self.relu(self.norm(self.conv(x))), self.pool_size, self.pool_type
        )


class _BlockEncoder(nn.Module):
    """Shared forward: input norm over mel bins, blocks with dropout, max+mean pooling to an embedding.

    Subclasses set ``self.norm0``, ``self.block_names`` and ``self.dropout``. Input ``[B, T, n_mels]``; returns the embedding
    ``[B, emb_dim]`` and a dict of every block's output ``[B, C, T', M']``.
    """

    def forward(self, features):
        x = features.unsqueeze(1)  # [B, 1, T, M]
        x = self.norm0(x.transpose(1, 3)).transpose(1, 3)
        hidden = {}
        return self._blocks(x, self.block_names, hidden), hidden

    def forward_after(self, block, output):
        """The embedding ``[B, emb_dim]`` from ``output``, the output of ``block`` (as ``forward`` puts it in
        ``hidden``): the blocks after it run as modules, so hooks on them fire."""
        x = F.dropout(output, p=self.dropout, training=self.training)
        return self._blocks(
            x, self.block_names[self.block_names.index(block) + 1 :]
        )

    def _blocks(self, x, names, hidden=None):
        for name in names:
            x = getattr(self, name)(x)
            if hidden is not None:
                hidden[name] = x
            x = F.dropout(x, p=self.dropout, training=self.training)
        x = x.mean(dim=3)
        return x.max(dim=2).values + x.mean(dim=2)


class CNN14Encoder(_BlockEncoder):
    """CNN14 (Kong et al. 2020) as in SpeechBrain's lobe; ``emb_dim`` channels in the last block.

    Hidden representations read by interpreters: ``conv_block3`` .. ``conv_block6``.
    """

    def __init__(
        self,
        n_mels=80,
        emb_dim=2048,
        norm_type="bn",
        channels=(64, 128, 256, 512, 1024),
        dropout=0.2,
    ):
        super().__init__()
        self.dropout = dropout
        self.norm0 = _norm(norm_type, n_mels)
        widths = [1, *channels, emb_dim]
        self.block_names = [f"conv_block{i}" for i in range(1, len(widths))]
        for i, name in enumerate(self.block_names):
            pool = (1, 1) if i == len(self.block_names) - 1 else (2, 2)
            setattr(
                self,
                name,
                ConvBlock(widths[i], widths[i + 1], norm_type, pool_size=pool),
            )
        self.emb_dim = emb_dim
        self.interpretable_layers = self.block_names[-4:]


class CompactCNNEncoder(_BlockEncoder):
    """PANNs' CNN6 layout with configurable widths (4 blocks of one 5x5 conv).

    With widths (64, 128, 256, 512) it is CNN6 (4.8 M parameters); the CPU default (32, 64, 128, 256) has
    1.2 M. Hidden representations: ``conv_block1`` .. ``conv_block4``.
    """

    def __init__(
        self,
        n_mels=80,
        channels=(32, 64, 128, 256),
        norm_type="bn",
        dropout=0.1,
    ):
        super().__init__()
        self.dropout = dropout
        self.norm0 = _norm(norm_type, n_mels)
        widths = [1, *channels]
        self.block_names = [f"conv_block{i}" for i in range(1, len(widths))]
        for i, name in enumerate(self.block_names):
            setattr(
                self, name, SingleConvBlock(widths[i], widths[i + 1], norm_type)
            )
        self.emb_dim = channels[-1]
        self.interpretable_layers = list(self.block_names)
