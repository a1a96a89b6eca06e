"""Gradient baselines (interpretability/interpreters/gradient.py): masks on the STFT grid from captum."""

from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn

from interpretability.brains.interpreter import ClipView, explanation_metrics
from interpretability.classifiers.base import build_classifier
from interpretability.interpreters.gradient import (
    BASELINES,
    GradientExplainer,
    MelDomainClassifier,
    gradient_explainers,
    mel_view,
    normalise_attribution,
)

SMALL = dict(smoothgrad_samples=3, ig_steps=4, shap_samples=3)


@pytest.fixture(scope="module")
def compact():
    torch.manual_seed(0)
    classifier = build_classifier("compact_cnn", 4, channels=[4, 8, 8, 16])
    # trained-looking BatchNorm statistics so that the ReLUs are not all on one side
    with torch.no_grad():
        classifier.train()
        for _ in range(3):
            classifier(torch.rand(4, 44, 513))
    return classifier.eval().requires_grad_(False)


@pytest.fixture(scope="module")
def view(compact):
    torch.manual_seed(1)
    t = torch.arange(8000) / 16000
    wavs = torch.stack(
        [
            0.3 * torch.sin(2 * torch.pi * f * t) + 0.05 * torch.randn(8000)
            for f in (440, 1500, 3000)
        ]
    )
    return ClipView(wavs, compact)


class _Linear(nn.Module):
    """logits_c = sum(w_c * x): saliency is |w_c| and IG is x * w_c, by hand."""

    def __init__(self, weight):
        super().__init__()
        self.weight = nn.Parameter(weight, requires_grad=False)
        self.interpretable_layers = ["none"]

    def forward(self, magnitude):
        return torch.einsum("btf,ctf->bc", magnitude, self.weight)


def test_normalise_attribution_hand_case():
    attribution = torch.tensor(
        [[[-2.0, 1.0], [0.5, 0.0]], [[0.0, 0.0], [0.0, 0.0]]]
    )
    expected = torch.tensor(
        [[[1.0, 0.5], [0.25, 0.0]], [[0.0, 0.0], [0.0, 0.0]]]
    )
    assert torch.equal(normalise_attribution(attribution), expected)


def test_saliency_and_integrated_gradients_on_a_linear_model_match_hand_values():
    weight = torch.tensor(
        [[[1.0, -4.0], [2.0, 0.5]], [[3.0, 0.0], [-1.0, 1.0]]]
    )
    x = torch.tensor([[[1.0, 2.0], [4.0, 0.0]]])
    rows = SimpleNamespace(magnitude=x, decision=torch.tensor([0]))
    model = _Linear(weight)
    saliency = GradientExplainer(model, "saliency").explain(rows)
    assert torch.allclose(saliency, torch.tensor([[[0.25, 1.0], [0.5, 0.125]]]))
    # IG of a linear model is exact at any step count: x * w (taken on z = x / max x, z * df/dz = x * df/dx)
    ig = GradientExplainer(
        model, "integrated_gradients", ig_steps=3
    ).attribution(rows)
    assert torch.allclose(ig, torch.tensor([[[1.0, -8.0], [8.0, 0.0]]]))
    assert torch.allclose(
        GradientExplainer(model, "integrated_gradients").explain(rows),
        torch.tensor([[[1 / 8, 1.0], [1.0, 0.0]]]),
    )


@pytest.mark.parametrize("domain", ["linear", "mel"])
def test_every_baseline_gives_a_mask_on_the_grid(compact, view, domain):
    width = 513 if domain == "linear" else 80
    for name, explainer in gradient_explainers(
        compact, BASELINES, domain, **SMALL
    ).items():
        mask = explainer.explain(view)
        assert mask.shape == (3, view.n_frames, width), name
        assert (
            mask.min() >= 0 and mask.max() <= 1 and torch.isfinite(mask).all()
        ), name
        assert torch.allclose(mask.flatten(1).amax(dim=1), torch.ones(3)), (
            name
        )  # normalised per row
        assert name.endswith("_mel") == (domain == "mel")


def test_integrated_gradients_completeness_on_the_cnn(compact, view):
    """Attributions sum to f_c(x) - f_c(silence): the configured step count is the one used."""
    rows = SimpleNamespace(
        magnitude=view.magnitude[:1], decision=view.decision[:1]
    )
    with torch.no_grad():
        c = int(rows.decision)
        gap = (
            compact(rows.magnitude)[0, c]
            - compact(torch.zeros_like(rows.magnitude))[0, c]
        )
    coarse = (
        GradientExplainer(compact, "integrated_gradients", ig_steps=2)
        .attribution(rows)
        .sum()
    )
    fine = (
        GradientExplainer(compact, "integrated_gradients", ig_steps=64)
        .attribution(rows)
        .sum()
    )
    assert abs(float(fine - gap)) < 0.05 * abs(float(gap)) + 1e-3
    assert abs(float(fine - gap)) < abs(float(coarse - gap))


@pytest.mark.parametrize(
    "method,changed",
    [
        ("smoothgrad", {"smoothgrad_samples": 8}),
        ("smoothgrad", {"smoothgrad_stdev": 0.4}),
        ("integrated_gradients", {"ig_steps": 16}),
        ("shap", {"shap_samples": 8}),
        ("shap", {"shap_stdev": 0.4}),
        ("gradcam", {"layer": "conv_block2"}),
        ("guided_gradcam", {"layer": "conv_block3"}),
    ],
)
def test_settings_are_used(compact, view, method, changed):
    base = GradientExplainer(compact, method, **SMALL).explain(view)
    again = GradientExplainer(compact, method, **SMALL).explain(view)
    other = GradientExplainer(compact, method, **{**SMALL, **changed}).explain(
        view
    )
    assert torch.equal(
        base, again
    )  # seeded: the change below comes from the setting
    assert not torch.allclose(base, other, atol=1e-4)


def test_internal_batch_size_does_not_change_deterministic_masks(compact, view):
    whole = GradientExplainer(
        compact, "integrated_gradients", ig_steps=4
    ).explain(view)
    chunked = GradientExplainer(
        compact, "integrated_gradients", ig_steps=4, internal_batch_size=5
    ).explain(view)
    assert torch.allclose(whole, chunked, atol=1e-5)


def test_gradcam_layer_is_upsampled_through_the_mel_axis(compact, view):
    explainer = GradientExplainer(compact, "gradcam")
    cam = torch.zeros(1, 1, 2, 5)
    cam[0, 0, :, 0] = 1.0  # only the lowest mel fifth of the layer is active
    grid = explainer.cam_to_grid(cam, n_frames=8)
    assert grid.shape == (1, 8, 513)
    low, high = grid[0, :, :20].mean(), grid[0, :, 200:].mean()
    assert (
        low > 0.9 and high < 1e-6
    )  # mel band 0-15 of 80 lies below ~700 Hz: the low linear bins
    assert torch.allclose(
        GradientExplainer(compact, "gradcam", domain="mel").cam_to_grid(
            torch.ones(1, 1, 2, 5), 8
        ),
        torch.ones(1, 8, 80),
    )


@pytest.mark.parametrize(
    "architecture,channels,layer",
    [
        ("compact_cnn", [4, 8, 8, 16], "conv_block4"),
        ("cnn14", [4, 4, 8, 8, 8], "conv_block4"),
    ],
)
def test_guided_methods_differ_from_plain_gradients_on_our_classifiers(
    architecture, channels, layer, view
):
    torch.manual_seed(0)
    kwargs = dict(emb_dim=8) if architecture == "cnn14" else {}
    classifier = build_classifier(architecture, 4, channels=channels, **kwargs)
    with torch.no_grad():
        classifier.train()
        classifier(torch.rand(4, 44, 513))
    classifier = classifier.eval().requires_grad_(False)
    rows = ClipView(view.wavs, classifier)
    saliency = GradientExplainer(classifier, "saliency").explain(rows)
    guided = GradientExplainer(classifier, "guided_backprop").explain(rows)
    gradcam = GradientExplainer(classifier, "gradcam", layer=layer).explain(
        rows
    )
    guided_gradcam = GradientExplainer(
        classifier, "guided_gradcam", layer=layer
    ).explain(rows)
    assert gradcam.abs().sum() > 0
    assert (saliency - guided).abs().mean() > 0.01
    # guided GradCAM = guided backprop x GradCAM, not plain gradients x GradCAM
    plain_gradcam = normalise_attribution(saliency * gradcam)
    assert (guided_gradcam - plain_gradcam).abs().mean() > 0.005


def test_guided_methods_refuse_a_model_without_relu_modules():
    class FunctionalReLU(nn.Module):
        interpretable_layers = ["none"]

        def forward(self, magnitude):
            return torch.relu(magnitude).flatten(1)[:, :2]

    with pytest.raises(ValueError, match="nn.ReLU"):
        GradientExplainer(FunctionalReLU(), "guided_backprop")
    GradientExplainer(
        FunctionalReLU(), "saliency"
    )  # plain gradients do not need them


def test_bad_settings_are_rejected(compact):
    with pytest.raises(ValueError, match="unknown gradient method"):
        GradientExplainer(compact, "lime")
    with pytest.raises(ValueError, match="ig_steps"):
        GradientExplainer(compact, "integrated_gradients", ig_steps=0)
    with pytest.raises(ValueError, match="GradCAM layer"):
        GradientExplainer(compact, "gradcam", layer="conv_block9").explain(
            SimpleNamespace(
                magnitude=torch.rand(1, 44, 513), decision=torch.tensor([0])
            )
        )


def test_mel_domain_classifier_and_view_reproduce_the_classifier(compact, view):
    model = MelDomainClassifier(compact)
    rows = mel_view(view, compact)
    assert rows.magnitude.shape == (3, view.n_frames, 80) and rows.clean is None
    with torch.no_grad():
        assert torch.allclose(model(rows.magnitude), view.logits, atol=1e-5)
    metrics = explanation_metrics(model, rows, torch.ones_like(rows.magnitude))
    assert torch.equal(metrics["AD"], torch.zeros(3)) and torch.equal(
        metrics["AI"], torch.zeros(3)
    )
    assert "SISDR" not in metrics
