"""Gradient baselines of the L-MAC paper's comparison, through captum (docs/methods.md, "Gradient baselines").

Each method turns a captum attribution of the classifier's decision into a mask on the same grid as the trained
interpreters' (the linear STFT grid ``[R, T, F]``), so that
:func:`~interpretability.brains.interpreter.explanation_metrics` scores every method on one code path:
``mask = |attribution| / max |attribution|`` per row (GradCAM: its ReLU'd map, upsampled to the grid).

Methods (``BASELINES``): ``saliency`` (captum ``Saliency``), ``smoothgrad`` (``NoiseTunnel`` over ``Saliency``),
``integrated_gradients``, ``gradcam`` (``LayerGradCam`` on a hidden layer, upsampled in time and mapped from the
mel axis to the linear bins by interpolation between mel-band centres), ``guided_backprop``, ``guided_gradcam``
(guided backprop times the upsampled GradCAM map, as captum's ``GuidedGradCam`` computes it, but with the
mel-to-linear upsampling instead of captum's uniform stretch) and ``shap`` (``GradientShap``).

Attributions are taken with respect to the clip's spectrogram divided by its own maximum (the classifier is
called on ``z * max``), so that the noise levels of SmoothGrad and GradientShap are fractions of each clip's
range, as in the SmoothGrad paper, whatever the clip's level. Dividing by a per-clip constant does not change
the normalised masks of the other methods.

``domain="mel"`` is the variant that attributes to the classifier's mel spectrogram ``mel(|X|)`` ``[R, T, n_mels]``
(the input of its ``log1p``), as most published baselines do: its masks are scored by masking the mel
spectrogram (:class:`MelDomainClassifier`, :func:`mel_view`) and cannot be listened to.

Guided methods override the gradients of ``nn.ReLU`` modules; on a model without them they would silently be
plain gradients, so :class:`GradientExplainer` refuses such a model for those methods.
"""

import copy
import warnings

import numpy as np
import torch
import torch.nn as nn

from interpretability.interpreters.lmac import (
    _fit as fit_to_grid,
    mel_to_linear_matrix,
)

BASELINES = (
    "saliency",
    "smoothgrad",
    "integrated_gradients",
    "gradcam",
    "guided_backprop",
    "guided_gradcam",
    "shap",
)
GUIDED = ("guided_backprop", "guided_gradcam")
DOMAINS = ("linear", "mel")


class MelDomainClassifier(nn.Module):
    """The classifier seen from its mel spectrogram: ``mel(|X|)`` ``[B, T, n_mels]`` -> logits, i.e. the
    :class:`~interpretability.classifiers.base.SpectrogramClassifier` without its filterbank (``log1p`` kept).

    Has ``forward``, ``forward_with_hidden``, ``probabilities`` and ``multilabel``, so the shared metrics apply
    with the mel spectrogram in the role of the magnitude.

    Example
    -------
    >>> from interpretability.classifiers import build_classifier
    >>> classifier = build_classifier(
    ...     "compact_cnn", n_classes=3, channels=[4, 4, 8, 8]
    ... ).eval()
    >>> mel_classifier = MelDomainClassifier(classifier)
    >>> mel = mel_classifier.mel(torch.rand(2, 44, 513))
    >>> mel.shape, mel_classifier(mel).shape
    (torch.Size([2, 44, 80]), torch.Size([2, 3]))
    """

    def __init__(self, classifier):
        super().__init__()
        front_end = getattr(classifier, "front_end", None)
        if not hasattr(front_end, "filterbank") or not hasattr(
            classifier, "encoder"
        ):
            raise ValueError(
                f"{type(classifier).__name__} has no log1p(mel) front end with a filterbank: the mel-"
                "domain variant needs a SpectrogramClassifier (compact CNN or CNN14)"
            )
        self.classifier = classifier
        self.multilabel = bool(getattr(classifier, "multilabel", False))
        self.n_classes = classifier.n_classes

    def mel(self, magnitude):
        """``[B, T, F]`` linear magnitude -> ``[B, T, n_mels]`` mel spectrogram."""
        return self.classifier.front_end.filterbank(magnitude)

    def forward_with_hidden(self, mel):
        embedding, hidden = self.classifier.encoder(torch.log1p(mel))
        return self.classifier.head(embedding), {
            name: hidden[name] for name in self.classifier.interpretable_layers
        }

    def forward(self, mel):
        return self.classifier.head(
            self.classifier.encoder(torch.log1p(mel))[0]
        )

    def probabilities(self, logits):
        return self.classifier.probabilities(logits)


def mel_view(view, classifier):
    """A copy of a :class:`~interpretability.brains.interpreter.ClipView` whose ``magnitude`` is the mel
    spectrogram ``[R, T, n_mels]``, for scoring mel-domain masks with ``MelDomainClassifier(classifier)``.
    There is no listenable explanation, so no clean target (no SI-SDR or oracle overlap).

    Example
    -------
    >>> from interpretability.classifiers import build_classifier
    >>> classifier = build_classifier(
    ...     "compact_cnn", n_classes=3, channels=[4, 4, 8, 8]
    ... ).eval()
    >>> from types import SimpleNamespace
    >>> view = SimpleNamespace(
    ...     magnitude=torch.rand(2, 44, 513),
    ...     phase=None,
    ...     clean=None,
    ...     _clean_magnitude=None,
    ... )
    >>> mel_view(view, classifier).magnitude.shape, view.magnitude.shape
    (torch.Size([2, 44, 80]), torch.Size([2, 44, 513]))
    """
    mel = copy.copy(view)
    mel.magnitude = MelDomainClassifier(classifier).mel(view.magnitude)
    mel.phase = None
    mel.clean = None
    mel._clean_magnitude = None
    return mel


class _ScaledInput(nn.Module):
    """``(z [B, 1, T, D], scale [B, 1, 1, 1]) -> logits`` of the classifier on ``z * scale`` (linear magnitude or
    mel spectrogram), negative cells (SmoothGrad's and GradientShap's noise) set to 0 as no spectrogram has
    them; the gradient passes unchanged where ``z >= 0``. The classifier is a submodule, so captum finds its
    ReLU modules and layers."""

    def __init__(self, classifier, domain):
        super().__init__()
        self.model = (
            MelDomainClassifier(classifier) if domain == "mel" else classifier
        )

    def forward(self, z, scale):
        spectrogram = (z * scale).squeeze(1)
        return self.model(
            torch.where(
                spectrogram < 0, torch.zeros_like(spectrogram), spectrogram
            )
        )


def normalise_attribution(attribution):
    """``|a| / max |a|`` per row, ``[R, ...]`` -> same shape in [0, 1]; an all-zero row stays zero.

    Example
    -------
    >>> normalise_attribution(torch.tensor([[-2.0, 1.0], [0.0, 0.0]]))
    tensor([[1.0000, 0.5000],
            [0.0000, 0.0000]])
    """
    magnitude = attribution.detach().abs()
    peak = (
        magnitude.flatten(1)
        .amax(dim=1)
        .reshape(-1, *([1] * (magnitude.dim() - 1)))
    )
    return torch.where(
        peak > 0, magnitude / peak.clamp_min(1e-30), torch.zeros_like(magnitude)
    )


def has_relu_modules(model):
    """True when ``model`` has ``nn.ReLU`` modules (what captum's guided methods override).

    Example
    -------
    >>> has_relu_modules(
    ...     torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU())
    ... )
    True
    >>> has_relu_modules(torch.nn.Linear(2, 2))
    False
    """
    return any(isinstance(module, nn.ReLU) for module in model.modules())


class GradientExplainer:
    """A captum attribution method as an explainer: ``explain(view)`` -> mask ``[R, T, F]`` in [0, 1] for the
    rows of a :class:`~interpretability.brains.interpreter.ClipView` (``[R, T, n_mels]`` when ``domain="mel"``),
    explaining each row's ``decision`` (the target logit).

    Arguments
    ---------
    classifier : SpectrogramClassifier, in eval mode.
    method : one of ``BASELINES``.
    domain : ``linear`` (the STFT grid, listenable) or ``mel``.
    layer : GradCAM / Guided GradCAM layer: a name of ``classifier.interpretable_layers`` or a dotted module
        path; None: the deepest interpretable layer.
    smoothgrad_samples, smoothgrad_stdev : noisy copies per clip and their noise level (a fraction of the
        clip's maximum).
    ig_steps : Integrated Gradients steps (from silence, the all-zero spectrogram, to the clip).
    shap_samples, shap_stdev : GradientShap samples per clip and their noise level (baseline: silence).
    internal_batch_size : at most this many expanded rows per forward pass in IG / SmoothGrad / SHAP (None: all
        rows at once).
    seed : seed of the noise of SmoothGrad and GradientShap (their masks are reproducible).

    Example
    -------
    >>> from interpretability.classifiers import build_classifier
    >>> classifier = build_classifier(
    ...     "compact_cnn", n_classes=3, channels=[4, 4, 8, 8]
    ... ).eval()
    >>> from types import SimpleNamespace
    >>> view = SimpleNamespace(
    ...     magnitude=torch.rand(2, 44, 513), decision=torch.tensor([0, 2])
    ... )
    >>> mask = GradientExplainer(classifier, "saliency").explain(view)
    >>> (
    ...     mask.shape,
    ...     float(mask.amax(dim=(1, 2)).min()),
    ... )  # |gradient| / its maximum, per clip
    (torch.Size([2, 44, 513]), 1.0)
    """

    def __init__(
        self,
        classifier,
        method,
        domain="linear",
        layer=None,
        smoothgrad_samples=25,
        smoothgrad_stdev=0.1,
        ig_steps=50,
        shap_samples=25,
        shap_stdev=0.1,
        internal_batch_size=None,
        seed=0,
    ):
        if method not in BASELINES:
            raise ValueError(
                f"unknown gradient method {method!r}; known: {list(BASELINES)}"
            )
        if domain not in DOMAINS:
            raise ValueError(f"domain must be one of {DOMAINS}, got {domain!r}")
        if method in GUIDED and not has_relu_modules(classifier):
            raise ValueError(
                f"{method} overrides the gradients of nn.ReLU modules and {type(classifier).__name__} "
                "has none: it would silently return plain gradients"
            )
        for name, value in (
            ("smoothgrad_samples", smoothgrad_samples),
            ("ig_steps", ig_steps),
            ("shap_samples", shap_samples),
        ):
            if int(value) < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        self.classifier = classifier
        self.method = method
        self.domain = domain
        self.layer_name = layer or classifier.interpretable_layers[-1]
        self.smoothgrad_samples = int(smoothgrad_samples)
        self.smoothgrad_stdev = float(smoothgrad_stdev)
        self.ig_steps = int(ig_steps)
        self.shap_samples = int(shap_samples)
        self.shap_stdev = float(shap_stdev)
        self.internal_batch_size = internal_batch_size
        self.seed = int(seed)
        self.model = _ScaledInput(classifier, domain)

    @property
    def name(self):
        return self.method if self.domain == "linear" else f"{self.method}_mel"

    def with_classifier(self, classifier):
        """The same method and settings on another classifier (the sanity check's randomised copies)."""
        other = copy.copy(self)
        other.classifier = classifier
        other.model = _ScaledInput(classifier, self.domain)
        return other

    def layer(self):
        """The GradCAM layer module."""
        classifier = self.classifier
        for path in (self.layer_name, f"encoder.{self.layer_name}"):
            try:
                return classifier.get_submodule(path)
            except AttributeError:
                continue
        raise ValueError(
            f"GradCAM layer {self.layer_name!r} is neither an interpretable layer "
            f"{classifier.interpretable_layers} nor a module path of {type(classifier).__name__}"
        )

    def inputs(self, view):
        """The attributed input of the view's rows: ``[R, T, F]`` (or ``[R, T, n_mels]`` for ``mel``)."""
        if self.domain == "mel":
            return self.model.model.mel(view.magnitude)
        return view.magnitude

    def attribution(self, view):
        """The raw attribution ``[R, T, D]`` of each row's decision (GradCAM methods: already on the grid).

        Rows go through captum in chunks of ``internal_batch_size // expansions`` rows (expansions: the IG steps or
        the SmoothGrad / SHAP samples each row is expanded to), so memory stays bounded whatever the method.
        """
        x = self.inputs(view).detach()
        scale = x.flatten(1).amax(dim=1).clamp_min(1e-12).reshape(-1, 1, 1, 1)
        z = x.unsqueeze(1) / scale
        target = view.decision.long()
        rows = z.shape[0]
        if self.internal_batch_size:
            rows_per_pass = max(
                1, int(self.internal_batch_size) // self.expansions
            )
        else:
            rows_per_pass = rows
        parts = []
        numpy_state = (
            np.random.get_state()
        )  # GradientShap draws its interpolation points with numpy
        try:
            with torch.enable_grad(), torch.random.fork_rng(
                devices=_cuda_devices(z)
            ), warnings.catch_warnings():
                warnings.filterwarnings(
                    "ignore", message="Setting backward hooks on ReLU"
                )
                torch.manual_seed(self.seed)
                np.random.seed(self.seed)
                for start in range(0, rows, rows_per_pass):
                    chunk = slice(start, start + rows_per_pass)
                    parts.append(
                        self._attribute(
                            z[chunk].clone().requires_grad_(True),
                            scale[chunk],
                            target[chunk],
                            x.shape[1],
                        )
                    )
        finally:
            np.random.set_state(numpy_state)
        return torch.cat(parts)

    @property
    def expansions(self):
        """Forward passes per row that captum batches together."""
        return {
            "smoothgrad": self.smoothgrad_samples,
            "integrated_gradients": self.ig_steps,
            "shap": self.shap_samples,
        }.get(self.method, 1)

    def _attribute(self, z, scale, target, n_frames):
        from captum.attr import (
            GradientShap,
            GuidedBackprop,
            IntegratedGradients,
            LayerGradCam,
            NoiseTunnel,
            Saliency,
        )

        kwargs = dict(target=target, additional_forward_args=(scale,))
        method = self.method
        if method == "saliency":
            attribution = Saliency(self.model).attribute(z, abs=True, **kwargs)
        elif method == "smoothgrad":
            attribution = NoiseTunnel(Saliency(self.model)).attribute(
                z,
                nt_type="smoothgrad",
                nt_samples=self.smoothgrad_samples,
                stdevs=self.smoothgrad_stdev,
                abs=True,
                **kwargs,
            )
        elif method == "integrated_gradients":
            attribution = IntegratedGradients(self.model).attribute(
                z,
                baselines=torch.zeros_like(z),
                n_steps=self.ig_steps,
                internal_batch_size=self.internal_batch_size,
                **kwargs,
            )
        elif method == "shap":
            attribution = GradientShap(self.model).attribute(
                z,
                baselines=torch.zeros_like(z[:1]),
                n_samples=self.shap_samples,
                stdevs=self.shap_stdev,
                **kwargs,
            )
        elif method == "guided_backprop":
            attribution = GuidedBackprop(self.model).attribute(z, **kwargs)
        else:  # gradcam, guided_gradcam
            cam = LayerGradCam(self.model, self.layer()).attribute(
                z, relu_attributions=True, **kwargs
            )
            grid = self.cam_to_grid(cam.detach(), n_frames)
            if method == "gradcam":
                return grid
            return (
                GuidedBackprop(self.model)
                .attribute(z, **kwargs)
                .detach()
                .squeeze(1)
                * grid
            )
        return attribution.detach().squeeze(1)

    def cam_to_grid(self, cam, n_frames):
        """A GradCAM map ``[R, 1, T_l, M_l]`` on the (time, mel) grid of its layer -> ``[R, T, D]``: upsampled to
        ``(T, n_mels)`` (integer factors, aligned with the classifier's pooling) and, on the linear grid, mapped to
        the linear bins by interpolating between mel-band centres."""
        n_mels = self.classifier.front_end.n_mels
        on_mel = fit_to_grid(cam, (int(n_frames), n_mels)).squeeze(
            1
        )  # [R, T, n_mels]
        if self.domain == "mel":
            return on_mel
        filterbank = self.classifier.front_end.filterbank
        n_freqs = int(filterbank.n_stft)
        matrix = mel_to_linear_matrix(
            n_mels,
            n_freqs,
            int(filterbank.sample_rate),
            float(filterbank.f_min),
            float(filterbank.f_max),
        )
        return on_mel @ matrix.to(on_mel).T

    def explain(self, view):
        """Mask ``[R, T, D]`` in [0, 1]: the normalised absolute attribution."""
        return normalise_attribution(self.attribution(view))


def _cuda_devices(tensor):
    return [tensor.device] if tensor.device.type == "cuda" else []


def gradient_explainers(
    classifier, methods=BASELINES, domain="linear", **settings
):
    """``{name: GradientExplainer}`` for ``methods`` in ``domain`` (names get ``_mel`` in the mel domain).

    Example
    -------
    >>> from interpretability.classifiers import build_classifier
    >>> classifier = build_classifier(
    ...     "compact_cnn", n_classes=3, channels=[4, 4, 8, 8]
    ... ).eval()
    >>> sorted(
    ...     gradient_explainers(
    ...         classifier, methods=["saliency", "gradcam"], domain="mel"
    ...     )
    ... )
    ['gradcam_mel', 'saliency_mel']
    """
    explainers = [
        GradientExplainer(classifier, method, domain=domain, **settings)
        for method in methods
    ]
    return {explainer.name: explainer for explainer in explainers}
