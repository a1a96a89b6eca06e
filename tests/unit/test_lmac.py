"""L-MAC decoder and objective (docs/methods.md, "L-MAC")."""

import math

import pytest
import torch
import torch.nn as nn

from interpretability.classifiers import build_classifier, count_parameters
from interpretability.interpreters.lmac import (
    LMACDecoder,
    lmac_objective,
    mel_to_linear_matrix,
    total_variation,
)

CNN14_WIDTHS = {
    "conv_block3": 256,
    "conv_block4": 512,
    "conv_block5": 1024,
    "conv_block6": 2048,
}
COMPACT_WIDTHS = {
    "conv_block1": 32,
    "conv_block2": 64,
    "conv_block3": 128,
    "conv_block4": 256,
}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small ops on two busy shared cores run several times faster on one intra-op thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def softplus(x):
    return math.log1p(math.exp(x))


class SumClassifier(nn.Module):
    """Logits ``[s/2, -s/2]`` with ``s`` the sum of the input, through a fixed linear layer."""

    def __init__(self, multilabel=False):
        super().__init__()
        self.linear = nn.Linear(1, 2, bias=False)
        with torch.no_grad():
            self.linear.weight.copy_(torch.tensor([[0.5], [-0.5]]))
        self.multilabel = multilabel
        self.requires_grad_(False)

    def forward(self, magnitude):
        return self.linear(magnitude.sum(dim=(1, 2)).unsqueeze(1))


def tiny_classifier(architecture):
    if architecture == "compact_cnn":
        model = build_classifier(
            "compact_cnn", n_classes=5, channels=[8, 16, 16, 32]
        )
    else:
        model = build_classifier(
            "cnn14", n_classes=5, emb_dim=16, channels=[4, 4, 8, 8, 16]
        )
    return model.eval().requires_grad_(False)


def decoder_for(hidden):
    return LMACDecoder({name: h.shape[1] for name, h in hidden.items()})


@pytest.mark.parametrize("architecture", ["compact_cnn", "cnn14"])
@pytest.mark.parametrize("n_frames", [44, 87, 173])
def test_decoder_output_is_on_the_stft_grid(architecture, n_frames):
    classifier = tiny_classifier(architecture)
    with torch.no_grad():
        _, hidden = classifier.forward_with_hidden(torch.rand(2, n_frames, 513))
    decoder = decoder_for(hidden)
    logits = decoder(hidden, n_frames)
    assert logits.shape == (2, n_frames, 513)
    mask = decoder.mask(hidden, n_frames)
    assert mask.shape == (2, n_frames, 513)
    assert torch.all((mask >= 0) & (mask <= 1))
    assert mask.mean() >= 0.5  # the L1 term pulls it down from here


def test_decoder_handles_arbitrary_odd_hidden_sizes():
    decoder = LMACDecoder({"a": 3, "b": 5})
    hidden = {"a": torch.rand(1, 3, 17, 13), "b": torch.rand(1, 5, 7, 3)}
    assert decoder(hidden, 37).shape == (1, 37, 513)
    with pytest.raises(KeyError, match="b"):
        decoder({"a": hidden["a"]}, 37)


def test_gradients_reach_the_decoder_and_not_the_frozen_classifier():
    classifier = tiny_classifier("compact_cnn")
    magnitude = torch.rand(2, 44, 513)
    with torch.no_grad():
        logits, hidden = classifier.forward_with_hidden(magnitude)
    decoder = decoder_for(hidden)
    loss, _ = lmac_objective(
        classifier, magnitude, decoder.mask(hidden, 44), logits.argmax(dim=1)
    )
    loss.backward()
    for name, parameter in decoder.named_parameters():
        assert parameter.grad is not None, name
    assert any(p.grad.abs().sum() > 0 for p in decoder.parameters())
    assert all(p.grad is None for p in classifier.parameters())


def test_parameter_counts_are_a_small_fraction_of_the_reference():
    cnn14 = count_parameters(LMACDecoder(CNN14_WIDTHS))
    compact = count_parameters(LMACDecoder(COMPACT_WIDTHS))
    assert cnn14 <= 3_000_000
    assert compact <= 500_000
    assert compact < cnn14


def test_mel_to_linear_init_interpolates_band_centres():
    matrix = mel_to_linear_matrix(n_mels=80, n_freqs=513)
    assert matrix.shape == (513, 80)
    assert torch.allclose(matrix.sum(dim=1), torch.ones(513))
    assert matrix[0, 0] == 1 and matrix[-1, -1] == 1
    # the bin nearest each band centre leans on that band: centres rise monotonically along the bins
    centres = (matrix * torch.arange(80.0)).sum(dim=1)
    assert torch.all(centres[1:] >= centres[:-1])


def test_total_variation_by_hand():
    mask = torch.tensor([[[1.0, 1.0], [0.5, 0.0]]])
    # along time |0.5-1|, |0-1| -> 0.75; along freq |1-1|, |0-0.5| -> 0.25
    assert torch.allclose(total_variation(mask), torch.tensor([1.0]))


def test_objective_terms_by_hand():
    magnitude = torch.ones(1, 2, 2)
    mask = torch.tensor([[[1.0, 1.0], [0.5, 0.0]]])
    target = torch.tensor([0])
    loss, terms = lmac_objective(
        SumClassifier(), magnitude, mask, target, l_tv=0.5
    )
    # sum(M*X) = 2.5 -> logits [1.25, -1.25] -> CE = softplus(-2.5); sum((1-M)*X) = 1.5 -> softplus(-1.5)
    assert terms["in"].item() == pytest.approx(0.07888973429254956, abs=1e-6)
    assert terms["out"].item() == pytest.approx(0.20141327798275246, abs=1e-6)
    assert terms["l1"].item() == pytest.approx(0.625)
    assert terms["mask_mean"].item() == pytest.approx(0.625)
    assert terms["tv"].item() == pytest.approx(1.0)
    assert terms["guide"].item() == 0
    # 4 * 0.078890 - 0.2 * 0.201413 + 6.4 * 0.625 + 0.5 * 1.0
    assert loss.item() == pytest.approx(4.775276281573648, abs=1e-5)


def test_objective_and_metrics_take_the_masked_forward_passes_once():
    """Evaluation computes the classifier on the masked-in / masked-out input once for the loss and the metrics:
    the same loss, terms and metrics as computing them apart, and the classifier called twice, not four times."""
    from interpretability.brains.interpreter import (
        ClipView,
        explanation_metrics,
    )
    from interpretability.interpreters.lmac import masked_logits

    torch.manual_seed(0)
    classifier = build_classifier(
        "compact_cnn", n_classes=3, channels=[4, 8]
    ).eval()
    view = ClipView(torch.randn(2, 4000), classifier)
    mask = torch.rand_like(view.magnitude)
    calls = []
    classifier.register_forward_hook(lambda *args: calls.append(1))
    with torch.no_grad():
        loss, terms = lmac_objective(
            classifier, view.magnitude, mask, view.decision
        )
        metrics = explanation_metrics(classifier, view, mask)
        assert len(calls) == 4
        logits = masked_logits(classifier, view.magnitude, mask)
        shared_loss, shared_terms = lmac_objective(
            classifier, view.magnitude, mask, view.decision, logits=logits
        )
        shared = explanation_metrics(
            classifier, view, mask, masked_logits=logits
        )
    assert len(calls) == 6
    assert shared_loss.item() == pytest.approx(loss.item(), abs=1e-6)
    assert all(
        shared_terms[k].item() == pytest.approx(terms[k].item(), abs=1e-6)
        for k in terms
    )
    assert set(shared) == set(metrics)
    assert all(
        torch.allclose(shared[k], metrics[k], equal_nan=True) for k in metrics
    )


def test_objective_defaults_and_log1p_domain():
    magnitude = torch.ones(1, 2, 2)
    mask = torch.tensor([[[1.0, 1.0], [0.5, 0.0]]])
    loss, _ = lmac_objective(
        SumClassifier(), magnitude, mask, torch.tensor([0])
    )
    expected = (
        4 * softplus(-2.5) - 0.2 * softplus(-1.5) + 6.4 * 0.625
    )  # l_tv 0 by default
    assert loss.item() == pytest.approx(expected, abs=1e-5)
    # log1p domain: expm1(M * log1p(1)) = 2**M - 1, summed: 1 + 1 + (sqrt2 - 1) + 0
    _, terms = lmac_objective(
        SumClassifier(), magnitude, mask, torch.tensor([0]), domain="log1p"
    )
    s_in = 2 + math.sqrt(2) - 1
    assert terms["in"].item() == pytest.approx(softplus(-s_in), abs=1e-6)


def test_objective_does_not_depend_on_batch_size():
    classifier = tiny_classifier("compact_cnn")
    magnitude = torch.rand(1, 44, 513)
    mask = torch.rand(1, 44, 513)
    target = torch.tensor([2])
    single, _ = lmac_objective(classifier, magnitude, mask, target, l_tv=1.0)
    double, _ = lmac_objective(
        classifier,
        magnitude.repeat(2, 1, 1),
        mask.repeat(2, 1, 1),
        target.repeat(2),
        l_tv=1.0,
    )
    assert double.item() == pytest.approx(single.item(), rel=1e-5)


def test_objective_multilabel_uses_bce_on_the_explained_class():
    magnitude = torch.ones(1, 2, 2)
    mask = torch.tensor([[[1.0, 1.0], [0.5, 0.0]]])
    # class 1's logit is -s/2: BCE(-1.25, 1) = softplus(1.25), BCE(-0.75, 1) = softplus(0.75)
    loss, terms = lmac_objective(
        SumClassifier(multilabel=True), magnitude, mask, torch.tensor([1])
    )
    assert terms["in"].item() == pytest.approx(1.501929081345373, abs=1e-6)
    assert terms["out"].item() == pytest.approx(1.1368710061148999, abs=1e-6)
    assert loss.item() == pytest.approx(
        4 * 1.501929081345373 - 0.2 * 1.1368710061148999 + 6.4 * 0.625, abs=1e-5
    )


def test_guidance_replaces_l1_for_clips_that_already_match_the_clean_source():
    magnitude = torch.ones(2, 2, 2)
    mask = torch.stack(
        [torch.full((2, 2), 0.8), torch.tensor([[0.9, 0.9], [0.1, 0.1]])]
    )
    clean = torch.stack(
        [
            torch.tensor([[1.0, 1.0], [1.0, 0.2]]),
            torch.tensor([[0.0, 0.0], [1.0, 1.0]]),
        ]
    )
    guidance = {
        "clean_magnitude": clean,
        "weight": 4.0,
        "corr_threshold": 0.6,
        "oracle_threshold": 0.35,
    }
    loss, terms = lmac_objective(
        SumClassifier(),
        magnitude,
        mask,
        torch.tensor([0, 0]),
        guidance=guidance,
    )
    # clip 0: cos(0.8, clean) = 0.918 >= 0.6 -> guided; oracle [[1, 1], [1, 0]]
    #   BCE = (3 * -ln 0.8 - ln 0.2) / 4 = 0.569717, no L1
    # clip 1: cos = 0.110 < 0.6 -> keeps L1 = mean(M) = 0.5, no BCE
    assert terms["guided"].item() == pytest.approx(0.5)
    assert terms["guide"].item() == pytest.approx(
        0.5697171415941824 / 2, abs=1e-6
    )
    assert terms["l1"].item() == pytest.approx(0.5 / 2)
    assert terms["mask_mean"].item() == pytest.approx((0.8 + 0.5) / 2)
    # clip 0: 4 sp(-3.2) - 0.2 sp(-0.8) + 4 * 0.569717; clip 1: 4 sp(-2) - 0.2 sp(-2) + 6.4 * 0.5
    assert loss.item() == pytest.approx(
        (2.364461765836895 + 3.682326441963296) / 2, abs=1e-5
    )


def test_objective_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="mask and magnitude"):
        lmac_objective(
            SumClassifier(),
            torch.ones(1, 2, 2),
            torch.ones(1, 2, 3),
            torch.tensor([0]),
        )


def test_a_few_adam_steps_reduce_the_objective():
    classifier = tiny_classifier("compact_cnn")
    magnitude = torch.rand(2, 44, 513) * 5
    with torch.no_grad():
        logits, hidden = classifier.forward_with_hidden(magnitude)
    target = logits.argmax(dim=1)
    decoder = decoder_for(hidden)
    optimizer = torch.optim.Adam(decoder.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss, _ = lmac_objective(
            classifier, magnitude, decoder.mask(hidden, 44), target
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.5


def test_multilabel_decoder_computes_only_the_selected_class_mask():
    decoder = LMACDecoder(
        {"a": 8, "b": 16}, n_masks=3, width=16, min_width=8, head_channels=4
    )
    hidden = {"a": torch.randn(4, 8, 10, 20), "b": torch.randn(4, 16, 5, 10)}
    every = decoder.mask(hidden, 44)
    classes = torch.tensor([2, 0, 1, 2])
    assert every.shape == (4, 3, 44, 513)
    assert torch.allclose(
        decoder.mask(hidden, 44, classes=classes),
        every[torch.arange(4), classes],
        atol=1e-6,
    )
    assert decoder.config["n_masks"] == 3
