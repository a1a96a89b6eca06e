"""transformers' Audio Spectrogram Transformer (AST) behind the :class:`SpectrogramClassifier` interface.

:class:`ASTClassifier` maps a linear magnitude spectrogram ``[B, T, F]`` (the shared STFT grid of
:mod:`interpretability.spectral`) to logits ``[B, C]``: :class:`ASTFrontEnd` turns it into the normalised
log-mel frames ``[B, max_length, n_mels]`` AST's feature extractor gives (kaldi fbank: 128 mel bands from 20 Hz,
10 ms frames, pre-emphasis 0.97, ``(x - mean) / (2 std)``), then ``ast`` (a transformers ``ASTModel``) and
``head`` (its ``ASTMLPHead``: LayerNorm + Linear on the mean of the CLS and distillation tokens).

Modules are reachable by dotted path for AND's hooks: the transformer blocks are ``ast.layers.<i>`` (transformers
5) or ``ast.encoder.layer.<i>`` (transformers 4; ``ast.encoder.layer.<i>.output`` is the block's residual output
there); :meth:`ASTClassifier.block_paths` lists them for the installed version. Their outputs are token sequences
``[B, 2 + n_patches, hidden]``: pool them with ``cls`` (token 0) or ``mean``.

Build one from a config (random weights, :func:`build_ast_classifier`) or load one by local path or hub id
(:func:`load_ast_classifier`, e.g. ``MIT/ast-finetuned-audioset-10-10-0.4593``).
"""

import logging
import math
import os

import torch
import torch.nn as nn

from interpretability.errors import CheckpointError
from interpretability.spectral import STFTConfig

logger = logging.getLogger(__name__)

DEFAULT_AST = "MIT/ast-finetuned-audioset-10-10-0.4593"
AUDIOSET_MEAN = -4.2677393
AUDIOSET_STD = 4.5689974
# The kaldi fbank AST was trained on: 25 ms Hann window (400 samples in a 512-point FFT), 10 ms hop, no centring.
KALDI_WINDOW = 400
KALDI_HOP = 160
KALDI_N_FFT = 512
KALDI_EPSILON = 1.1920928955078125e-07


def _kaldi_mel(hz):
    return 1127.0 * torch.log1p(hz / 700.0)


def kaldi_mel_filterbank(n_mels, n_fft, sample_rate, f_min=20.0, f_max=None):
    """Kaldi's triangular mel filters (triangles in mel space, peak 1) on an ``n_fft`` grid: ``[n_fft // 2 + 1, n_mels]``."""
    f_max = sample_rate / 2 if f_max is None or f_max <= 0 else f_max
    if not 0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(
            f"mel range must satisfy 0 <= f_min < f_max <= {sample_rate / 2}, got {f_min}, {f_max}"
        )
    mel_low, mel_high = (
        _kaldi_mel(torch.tensor(f_min, dtype=torch.float64)),
        _kaldi_mel(torch.tensor(f_max, dtype=torch.float64)),
    )
    step = (mel_high - mel_low) / (n_mels + 1)
    edges = mel_low + step * torch.arange(n_mels + 2, dtype=torch.float64)
    left, centre, right = (
        edges[:-2, None],
        edges[1:-1, None],
        edges[2:, None],
    )  # [n_mels, 1]
    mel = _kaldi_mel(
        torch.arange(n_fft // 2 + 1, dtype=torch.float64) * sample_rate / n_fft
    )[None, :]
    up = (mel - left) / (centre - left)
    down = (right - mel) / (right - centre)
    return torch.clamp(torch.minimum(up, down), min=0.0).T.float().contiguous()


class ASTFrontEnd(nn.Module):
    """Magnitude ``[B, T, F]`` on the shared STFT grid -> AST input ``[B, max_length, n_mels]``.

    Approximates ``ASTFeatureExtractor`` (kaldi fbank) from a magnitude spectrogram: the power spectrum is weighted
    by the pre-emphasis filter's response, scaled to the power density of a 400-sample Hann window in a 512-point
    FFT, projected on kaldi's mel filters, ``log`` with kaldi's floor, resampled in time to the 10 ms frames kaldi
    centres at ``200 + 160 j`` samples (linear interpolation between STFT frames), zero-padded or cropped to
    ``max_length`` frames and normalised as ``(x - mean) / (2 std)``. Remaining differences to the extractor
    (window shape, per-frame DC removal) are small next to the normalisation scale (see tests/unit/test_ast.py).
    """

    def __init__(
        self,
        n_mels=128,
        max_length=1024,
        mean=AUDIOSET_MEAN,
        std=AUDIOSET_STD,
        f_min=20.0,
        f_max=None,
        preemphasis=0.97,
        normalize=True,
        config=STFTConfig(),
    ):
        super().__init__()
        self.n_mels, self.max_length = int(n_mels), int(max_length)
        self.mean, self.std, self.normalize = (
            float(mean),
            float(std),
            bool(normalize),
        )
        self.stft_config = config
        self.register_buffer(
            "filterbank",
            kaldi_mel_filterbank(
                n_mels, config.n_fft, config.sample_rate, f_min, f_max
            ),
            persistent=False,
        )
        omega = (
            2
            * math.pi
            * torch.arange(config.n_freqs, dtype=torch.float64)
            / config.n_fft
        )
        emphasis = (1 - preemphasis * torch.cos(omega)) ** 2 + (
            preemphasis * torch.sin(omega)
        ) ** 2
        window = torch.hann_window(
            config.win_length, periodic=True, dtype=torch.float64
        )
        kaldi_window = torch.hann_window(
            KALDI_WINDOW, periodic=False, dtype=torch.float64
        )
        # Same power density as kaldi's frames: window energy ratio, and kaldi's bins are n_fft / 512 times wider.
        scale = (kaldi_window.pow(2).sum() / window.pow(2).sum()) * (
            KALDI_N_FFT / config.n_fft
        )
        self.register_buffer(
            "weights", (emphasis * scale).float(), persistent=False
        )

    def num_frames(self, stft_frames):
        """Number of kaldi frames of a clip whose STFT has ``stft_frames`` frames."""
        samples = (stft_frames - 1) * self.stft_config.hop_length
        return (
            max(1, 1 + (samples - KALDI_WINDOW) // KALDI_HOP)
            if samples >= KALDI_WINDOW
            else 1
        )

    def forward(self, magnitude):
        power = magnitude.pow(2) * self.weights
        log_mel = torch.log(
            torch.clamp(power @ self.filterbank, min=KALDI_EPSILON)
        )  # [B, T, n_mels]
        frames = min(self.num_frames(log_mel.shape[1]), self.max_length)
        centres = (
            KALDI_WINDOW / 2
            + KALDI_HOP
            * torch.arange(frames, device=magnitude.device, dtype=log_mel.dtype)
        ) / self.stft_config.hop_length
        centres = centres.clamp(max=log_mel.shape[1] - 1)
        low = centres.floor().long()
        high = (low + 1).clamp(max=log_mel.shape[1] - 1)
        share = (centres - low.to(centres.dtype))[None, :, None]
        features = log_mel[:, low] * (1 - share) + log_mel[:, high] * share
        if (
            frames < self.max_length
        ):  # the extractor pads the log-mel frames with zeros, then normalises
            features = torch.nn.functional.pad(
                features, (0, 0, 0, self.max_length - frames)
            )
        if self.normalize:
            features = (features - self.mean) / (2 * self.std)
        return features


class ASTClassifier(nn.Module):
    """AST with the :class:`~interpretability.classifiers.base.SpectrogramClassifier` interface.

    Arguments
    ---------
    model : transformers.ASTForAudioClassification
        Its ``audio_spectrogram_transformer`` becomes ``self.ast`` and its ``classifier`` head ``self.head``.
    front_end : ASTFrontEnd
    multilabel : bool
        Sigmoid outputs (AudioSet, SONYC-UST) instead of softmax.
    config : dict
        Arguments that rebuild this model with ``build_classifier`` (saved on export).
    classes : list[str] or None
        Output class names (``model.config.id2label`` when None).
    """

    def __init__(
        self, model, front_end, multilabel=False, config=None, classes=None
    ):
        super().__init__()
        self.front_end = front_end
        self.ast = model.audio_spectrogram_transformer
        self.head = model.classifier
        self.ast_config = model.config
        self.n_classes = int(model.config.num_labels)
        self.multilabel = bool(multilabel)
        self.config = dict(config or {})
        if classes is None:
            labels = model.config.id2label or {}
            classes = [
                labels.get(i, labels.get(str(i), f"class_{i}"))
                for i in range(self.n_classes)
            ]
        if len(classes) != self.n_classes:
            raise ValueError(
                f"{len(classes)} class names for an AST with {self.n_classes} outputs"
            )
        self.classes = list(classes)

    def block_paths(self):
        """Dotted paths of the transformer blocks, first to last (``ast.layers.<i>`` or ``ast.encoder.layer.<i>``)."""
        return [
            name
            for name, module in self.named_modules()
            if type(module).__name__ == "ASTLayer"
        ]

    @property
    def interpretable_layers(self):
        """The last four transformer blocks, shallowest first."""
        return self.block_paths()[-4:]

    def features(self, magnitude):
        """``[B, T, F]`` magnitude -> AST input frames ``[B, max_length, n_mels]``."""
        return self.front_end(magnitude)

    def forward(self, magnitude):
        pooled = self.ast(input_values=self.front_end(magnitude)).pooler_output
        return self.head(pooled)

    def token_grid(self, tokens):
        """Block output ``[B, 2 + f * t, D]`` -> patch grid ``[B, D, t, f]`` (time before frequency)."""
        f_dim, t_dim = self.ast.embeddings.get_shape(self.ast_config)
        patches = tokens[:, 2:]
        if patches.shape[1] != f_dim * t_dim:
            raise ValueError(
                f"expected {f_dim * t_dim} patch tokens, got {patches.shape[1]}"
            )
        return patches.reshape(tokens.shape[0], f_dim, t_dim, -1).permute(
            0, 3, 2, 1
        )

    def forward_with_hidden(self, magnitude):
        """``[B, T, F]`` magnitude -> ``(logits [B, C], {block path: [B, D, t, f]})`` for the interpretable layers."""
        modules = {
            name: self.get_submodule(name) for name in self.interpretable_layers
        }
        captured = {}

        def hook_for(name):
            def hook(_module, _inputs, output):
                captured[name] = (
                    output[0] if isinstance(output, (tuple, list)) else output
                )

            return hook

        handles = [
            module.register_forward_hook(hook_for(name))
            for name, module in modules.items()
        ]
        try:
            logits = self.forward(magnitude)
        finally:
            for handle in handles:
                handle.remove()
        return logits, {
            name: self.token_grid(captured[name]) for name in modules
        }

    def probabilities(self, logits):
        return (
            torch.sigmoid(logits)
            if self.multilabel
            else torch.softmax(logits, dim=-1)
        )

    def decisions(self, logits, threshold=0.5):
        if self.multilabel:
            return (torch.sigmoid(logits) >= threshold).long()
        return logits.argmax(dim=-1)


def _front_end_kwargs(front_end):
    return {
        k: front_end[k]
        for k in ("mean", "std", "f_min", "f_max", "preemphasis", "normalize")
        if k in front_end
    }


def build_ast_classifier(
    n_classes,
    n_mels=128,
    multilabel=False,
    ast_config=None,
    front_end=None,
    classes=None,
    seed=None,
):
    """A randomly initialised AST over ``n_classes`` outputs from ``ASTConfig`` arguments.

    ``ast_config`` holds ``ASTConfig`` arguments (``hidden_size``, ``num_hidden_layers``, ``max_length``...);
    ``num_mel_bins`` is ``n_mels``. ``front_end`` holds :class:`ASTFrontEnd` options (``mean``, ``std``...).
    ``seed`` seeds the initialisation (None: the current RNG state).
    """
    from transformers import ASTConfig, ASTForAudioClassification

    ast_config = dict(ast_config or {})
    ast_config.pop("num_labels", None)
    ast_config["num_mel_bins"] = int(n_mels)
    config = ASTConfig(num_labels=int(n_classes), **ast_config)
    if classes is not None:
        config.id2label = dict(enumerate(classes))
        config.label2id = {c: i for i, c in enumerate(classes)}
    if seed is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            model = ASTForAudioClassification(config)
    else:
        model = ASTForAudioClassification(config)
    front = ASTFrontEnd(
        n_mels=n_mels,
        max_length=config.max_length,
        **_front_end_kwargs(front_end or {}),
    )
    rebuild = dict(
        architecture="ast",
        n_classes=int(n_classes),
        n_mels=int(n_mels),
        multilabel=bool(multilabel),
        ast_config=ast_config,
        front_end=dict(front_end or {}),
    )
    return ASTClassifier(
        model, front, multilabel=multilabel, config=rebuild, classes=classes
    ).eval()


def load_ast_classifier(source=DEFAULT_AST, multilabel=None, device="cpu"):
    """An ``ASTForAudioClassification`` by local folder or hub id as an :class:`ASTClassifier` (eval mode).

    The front end takes ``num_mel_bins``, ``max_length``, ``mean``, ``std`` and ``do_normalize`` from the folder's
    feature-extractor config when there is one (AudioSet values otherwise). ``multilabel`` None reads the model
    config's ``problem_type`` (AudioSet models are multi-label).
    """
    from transformers import ASTForAudioClassification

    try:
        model = ASTForAudioClassification.from_pretrained(source)
    except (OSError, ValueError) as err:
        raise CheckpointError(
            f"{source}: cannot load an AST classifier ({err})"
        ) from None
    extractor = {}
    try:
        from transformers import AutoFeatureExtractor

        fe = AutoFeatureExtractor.from_pretrained(source)
        extractor = {
            "mean": fe.mean,
            "std": fe.std,
            "normalize": fe.do_normalize,
        }
        if (
            fe.num_mel_bins != model.config.num_mel_bins
            or fe.max_length != model.config.max_length
        ):
            logger.warning(
                "%s: feature extractor (%d mels, %d frames) and model config (%d mels, %d frames) "
                "differ; the model config is used",
                source,
                fe.num_mel_bins,
                fe.max_length,
                model.config.num_mel_bins,
                model.config.max_length,
            )
    except (OSError, ValueError, AttributeError):
        logger.info(
            "%s: no AST feature-extractor config; AudioSet normalisation is used",
            source,
        )
    if multilabel is None:
        multilabel = (
            model.config.problem_type == "multi_label_classification"
            or (
                model.config.num_labels == 527
                and model.config.problem_type is None
            )
        )
    front = ASTFrontEnd(
        n_mels=model.config.num_mel_bins,
        max_length=model.config.max_length,
        **extractor,
    )
    config = dict(
        architecture="ast",
        n_classes=int(model.config.num_labels),
        n_mels=int(model.config.num_mel_bins),
        multilabel=bool(multilabel),
        ast_config=_config_arguments(model.config),
        front_end=extractor,
    )
    classifier = ASTClassifier(
        model, front, multilabel=multilabel, config=config
    )
    logger.info(
        "Loaded AST %s (%d outputs, %d blocks, %s)",
        source,
        classifier.n_classes,
        len(classifier.block_paths()),
        "multi-label" if multilabel else "single-label",
    )
    return classifier.to(device).eval()


def _config_arguments(config):
    keys = (
        "hidden_size",
        "num_hidden_layers",
        "num_attention_heads",
        "intermediate_size",
        "hidden_act",
        "hidden_dropout_prob",
        "attention_probs_dropout_prob",
        "layer_norm_eps",
        "patch_size",
        "qkv_bias",
        "frequency_stride",
        "time_stride",
        "max_length",
    )
    return {k: getattr(config, k) for k in keys if hasattr(config, k)}


def is_exported_classifier(source):
    """Whether ``source`` is a folder written by ``export_classifier`` (any architecture)."""
    return (
        bool(source)
        and os.path.isfile(os.path.join(source, "hyperparams.yaml"))
        and os.path.isfile(os.path.join(source, "model.ckpt"))
    )
