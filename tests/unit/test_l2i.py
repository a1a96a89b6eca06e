"""L2I interpreter: Psi, Theta, loss, relevance, masks, component removal, loading (docs/methods.md, "L2I")."""

import math
import os

import pytest
import torch
import torch.nn.functional as F
import yaml

from interpretability.brains.l2i import L2IMetricCollector, first_rows
from interpretability.errors import CheckpointError
from interpretability.inference import export_interpreter
from interpretability.interpreters.l2i import (
    GatedAttentionPooling,
    L2IInterpreter,
    L2IPsi,
    L2ITheta,
    component_mask,
    component_masks,
    fidelity_loss,
    l2i_objective,
    load_l2i,
    matched_random_components,
    relevance,
    remove_components,
    removed_energy,
)
from interpretability.spectral import apply_mask

LAYERS = {"conv_block1": 4, "conv_block2": 6}


def hidden_maps(batch=2, frames=16):
    return {
        "conv_block1": torch.rand(batch, 4, frames // 2, 8),
        "conv_block2": torch.rand(batch, 6, frames // 4, 2),
    }


def tiny_interpreter(n_components=5, n_classes=3, n_features=7, **psi_options):
    psi = L2IPsi(LAYERS, n_components, width=8, **psi_options)
    theta = L2ITheta(n_components, n_classes, attention_dim=4)
    dictionary = F.normalize(torch.rand(n_features, n_components), dim=0)
    return L2IInterpreter(psi, theta, dictionary, tau=0.2)


# --- relevance and component selection ------------------------------------------------------------------------
def test_relevance_by_hand():
    pooled = torch.tensor([[1.0, 2.0, 0.5]])
    theta = torch.tensor([[0.5, -1.0, 2.0], [1.0, 1.0, 1.0]])
    # class 0: contributions [0.5, -2, 1], max |.| = 2
    assert torch.allclose(
        relevance(pooled, theta, torch.tensor([0])),
        torch.tensor([[0.25, -1.0, 0.5]]),
    )
    # class 1: contributions [1, 2, 0.5], max 2
    assert torch.allclose(
        relevance(pooled, theta, torch.tensor([1])),
        torch.tensor([[0.5, 1.0, 0.25]]),
    )
    # no contribution at all: relevance 0, nothing selected
    assert torch.equal(
        relevance(torch.zeros(1, 3), theta, torch.tensor([0])),
        torch.zeros(1, 3),
    )


def test_threshold_selects_components_above_tau():
    interpreter = tiny_interpreter(n_components=3, n_classes=2, n_features=2)
    with torch.no_grad():
        interpreter.theta.head.weight.copy_(
            torch.tensor([[0.5, -1.0, 2.0], [1.0, 1.0, 1.0]])
        )
    activations = torch.rand(2, 3, 4)
    pooled = torch.tensor([[1.0, 2.0, 0.5], [1.0, 2.0, 0.5]])
    _, selected = interpreter.explain(activations, pooled, torch.tensor([0, 1]))
    # relevances [0.25, -1, 0.5] and [0.5, 1, 0.25] against tau = 0.2
    assert selected.tolist() == [[True, False, True], [True, True, True]]
    interpreter.tau = 0.3
    _, selected = interpreter.explain(activations, pooled, torch.tensor([0, 1]))
    assert selected.tolist() == [[False, False, True], [True, True, False]]


# --- masks ------------------------------------------------------------------------------------------------------
def test_component_mask_formula_by_hand():
    dictionary = torch.tensor(
        [[1.0, 0.0], [0.6, 0.8]]
    )  # [F=2, K=2], unit-norm columns
    activations = torch.tensor([[[2.0], [1.0]]])  # [B=1, K=2, T=1]
    # W H at t = 0: f0 = 2, f1 = 1.2 + 0.8 = 2.0; component 0 alone: [2, 1.2]
    mask = component_mask(
        dictionary, activations, torch.tensor([[True, False]]), eps=0.0
    )
    assert torch.allclose(mask, torch.tensor([[[1.0, 0.6]]]))
    eps_mask = component_mask(
        dictionary, activations, torch.tensor([[True, False]]), eps=2.0
    )
    assert torch.allclose(eps_mask, torch.tensor([[[0.5, 0.3]]]))
    assert torch.equal(
        component_mask(dictionary, activations, torch.tensor([[False, False]])),
        torch.zeros(1, 1, 2),
    )


def test_component_masks_add_up_to_the_mask_of_their_union():
    dictionary = torch.rand(7, 5)
    activations = torch.rand(2, 5, 3)
    components = torch.tensor([1, 3, 4])
    selected = torch.zeros(2, 5, dtype=torch.bool)
    selected[:, components] = True
    singles = component_masks(dictionary, activations, components, eps=1e-6)
    assert singles.shape == (2, 3, 3, 7)
    assert torch.allclose(
        singles.sum(dim=1),
        component_mask(dictionary, activations, selected, 1e-6),
        atol=1e-6,
    )
    everything = component_mask(
        dictionary, activations, torch.ones(2, 5, dtype=torch.bool), 0.0
    )
    assert torch.allclose(everything, torch.ones_like(everything))


def test_removing_components_is_the_input_minus_their_explanation():
    dictionary = torch.rand(7, 5)
    activations = torch.rand(2, 5, 3)
    selected = torch.tensor(
        [[True, False, True, False, False], [False, True, False, False, False]]
    )
    magnitude = torch.rand(2, 3, 7) * 4
    mask = component_mask(dictionary, activations, selected, 1e-6)
    removed = remove_components(
        magnitude, dictionary, activations, selected, "linear", 1e-6
    )
    # linear domain: x minus the listenable explanation, the masked-out input of the shared FF
    assert torch.allclose(
        removed, magnitude - apply_mask(magnitude, mask, "linear")
    )
    assert torch.allclose(removed, apply_mask(magnitude, 1 - mask, "linear"))
    log_removed = remove_components(
        magnitude, dictionary, activations, selected, "log1p", 1e-6
    )
    assert torch.allclose(
        log_removed, torch.expm1((1 - mask) * torch.log1p(magnitude))
    )
    nothing = remove_components(
        magnitude, dictionary, activations, torch.zeros_like(selected), "linear"
    )
    assert torch.equal(nothing, magnitude)


def test_random_control_removes_at_least_the_energy_of_the_explanation():
    """Disjoint atoms (atom k covers bin k): removing component k takes out the energy of bin k. The explanation
    removes bin 0 (energy 2 over 2 frames); the control draws components at random (the selected one included)
    until it removes at least that."""
    dictionary = torch.eye(4)[:, :3]  # [F=4, K=3]
    activations = torch.ones(1, 3, 2)
    selected = torch.tensor([[True, False, False]])

    def magnitude(other):
        return (
            torch.tensor([[1.0, other, other, 0.5]])
            .expand(2, 4)
            .unsqueeze(0)
            .clone()
        )  # [1, T=2, F=4]

    def energy(control, other):
        return removed_energy(
            magnitude(other), dictionary, activations, control
        ).item()

    assert energy(selected, 0.8) == pytest.approx(2.0, rel=1e-5)
    drawn = set()
    for seed in range(30):
        generator = torch.Generator().manual_seed(seed)
        # component 0 removes 2.0 (the target), 1 and 2 remove 1.28 each. Drawn first, 0 matches alone. Else 1 (or
        # 2) comes first, 0.72 short; then 0 overshoots to 3.28 (1.28 over: the shorter prefix {1} is closer) or the
        # other reaches 2.56 (0.56 over: {1, 2} is closer).
        control = matched_random_components(
            magnitude(0.8), dictionary, activations, selected, generator
        )
        assert control.tolist() in (
            [[True, False, False]],
            [[False, True, True]],
            [[False, True, False]],
            [[False, False, True]],
        )
        if control.sum() == 2:
            assert energy(control, 0.8) == pytest.approx(2.56, rel=1e-5)
        drawn.add(tuple(control[0].tolist()))
        # each removes 2.88 (0.88 over 2): one component, any of the three
        one = matched_random_components(
            magnitude(1.2), dictionary, activations, selected, generator
        )
        assert one.sum().item() == 1
    assert (True, False, False) in drawn and (
        False,
        True,
        True,
    ) in drawn  # the draw is random
    # only candidates (and the selected ones) are drawn; a row with nothing selected gets no control
    candidates = torch.tensor([[False, True, False]])
    for seed in range(10):
        control = matched_random_components(
            magnitude(0.8),
            dictionary,
            activations,
            selected,
            torch.Generator().manual_seed(seed),
            candidates,
        )
        assert not control[0, 2]
    nothing = matched_random_components(
        magnitude(0.8),
        dictionary,
        activations,
        torch.zeros(1, 3, dtype=torch.bool),
        torch.Generator(),
    )
    assert not nothing.any()


def test_random_control_matched_by_area():
    """Matched by area (mask mean), any one component of equal area matches a one-component explanation,
    whatever its energy; two components overshoot twice as far."""
    dictionary = torch.eye(4)[:, :3]
    activations = torch.ones(1, 3, 2)
    magnitude = torch.tensor([[[1.0, 0.1, 5.0, 0.5]] * 2])
    selected = torch.tensor([[True, False, False]])
    for seed in range(10):
        control = matched_random_components(
            magnitude,
            dictionary,
            activations,
            selected,
            torch.Generator().manual_seed(seed),
            match="area",
        )
        assert control.sum().item() == 1
    with pytest.raises(ValueError, match="match must be one of"):
        matched_random_components(
            magnitude,
            dictionary,
            activations,
            selected,
            torch.Generator(),
            match="both",
        )


# --- losses -------------------------------------------------------------------------------------------------
def test_fidelity_loss_multiclass_by_hand():
    theta_scores = torch.tensor([[0.0, math.log(3.0)]])  # softmax [0.25, 0.75]
    classifier_logits = torch.tensor([[0.0, 0.0]])  # soft target [0.5, 0.5]
    expected = -(0.5 * math.log(0.25) + 0.5 * math.log(0.75))
    assert fidelity_loss(
        theta_scores, classifier_logits
    ).item() == pytest.approx(expected, rel=1e-6)


def test_fidelity_loss_multilabel_by_hand():
    theta_scores = torch.tensor([[0.0, math.log(3.0)]])  # sigmoid [0.5, 0.75]
    classifier_logits = torch.tensor(
        [[math.log(3.0), 0.0]]
    )  # sigmoid [0.75, 0.5]
    bce = [
        -(0.75 * math.log(0.5) + 0.25 * math.log(0.5)),
        -(0.5 * math.log(0.75) + 0.5 * math.log(0.25)),
    ]
    assert fidelity_loss(
        theta_scores, classifier_logits, multilabel=True
    ).item() == pytest.approx(sum(bce), rel=1e-6)


@pytest.mark.parametrize("multilabel", [False, True])
def test_l2i_objective_by_hand(multilabel):
    dictionary = torch.tensor(
        [[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]
    )  # [F=3, K=2]
    activations = torch.tensor([[[1.0, 0.0], [2.0, 1.0]]])  # [B=1, K=2, T=2]
    # W H: frames t0 = [1, 2, 0], t1 = [0, 1, 0]
    target = torch.tensor([[[1.0, 1.0, 1.0], [0.0, 1.0, 2.0]]])  # [B, T, F]
    # squared errors: t0 [0, 1, 1], t1 [0, 0, 4]: mean over 6 cells = 1; mean |H| over 4 entries = 1
    scores = torch.tensor([[0.0, math.log(3.0)]])
    logits = torch.tensor([[0.0, 0.0]])
    fid = fidelity_loss(scores, logits, multilabel).item()
    loss, terms = l2i_objective(
        scores,
        logits,
        target,
        dictionary,
        activations,
        alpha=10.0,
        beta=0.8,
        multilabel=multilabel,
    )
    assert terms["rec"].item() == pytest.approx(1.0) and terms[
        "l1"
    ].item() == pytest.approx(1.0)
    assert terms["fid"].item() == pytest.approx(fid)
    assert loss.item() == pytest.approx(fid + 10.0 + 0.8, rel=1e-6)


def test_l2i_objective_is_a_per_clip_mean_and_does_not_train_the_classifier_logits():
    dictionary = torch.rand(4, 3)
    activations = torch.rand(1, 3, 5)
    target = torch.rand(1, 5, 4)
    scores = torch.randn(1, 2, requires_grad=True)
    logits = torch.randn(1, 2, requires_grad=True)
    single, _ = l2i_objective(scores, logits, target, dictionary, activations)
    doubled, _ = l2i_objective(
        scores.repeat(2, 1),
        logits.repeat(2, 1),
        target.repeat(2, 1, 1),
        dictionary,
        activations.repeat(2, 1, 1),
    )
    assert doubled.item() == pytest.approx(
        single.item(), rel=1e-6
    )  # batch size does not change the scale
    grad_scores, grad_logits = torch.autograd.grad(
        doubled, (scores, logits), allow_unused=True
    )
    assert (
        grad_scores is not None and grad_logits is None
    )  # the classifier's logits are a fixed target


# --- modules ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "options",
    [
        dict(),
        dict(freq_bands=4, kernel_size=3),
        dict(freq_pool="max", freq_bands=2, activation="softplus"),
    ],
)
def test_psi_gives_non_negative_activations_per_frame_independent_of_the_batch(
    options,
):
    psi = L2IPsi(LAYERS, n_components=5, width=8, **options).eval()
    hidden = hidden_maps(batch=3, frames=16)
    activations = psi(hidden, 16)
    assert activations.shape == (3, 5, 16) and (activations >= 0).all()
    alone = psi({name: h[1:2] for name, h in hidden.items()}, 16)
    assert torch.allclose(alone[0], activations[1], atol=1e-5)
    with pytest.raises(KeyError, match="conv_block2"):
        psi({"conv_block1": hidden["conv_block1"]}, 16)


def test_psi_rejects_bad_options():
    with pytest.raises(ValueError, match="kernel_size"):
        L2IPsi(LAYERS, 5, kernel_size=2)
    with pytest.raises(ValueError, match="freq_pool"):
        L2IPsi(LAYERS, 5, freq_pool="median")


def test_gated_attention_by_hand():
    pooling = GatedAttentionPooling(n_inputs=2, attention_dim=1)
    with torch.no_grad():
        pooling.V.weight.copy_(torch.tensor([[1.0, 0.0]]))
        pooling.V.bias.zero_()
        pooling.U.weight.zero_()
        pooling.U.bias.zero_()  # sigmoid gate 0.5
        pooling.w.weight.copy_(torch.tensor([[2.0]]))
    activations = torch.tensor([[[0.0, 1.0], [1.0, 3.0]]])  # [B=1, K=2, T=2]
    scores = torch.tensor([2 * math.tanh(0.0) * 0.5, 2 * math.tanh(1.0) * 0.5])
    attention = torch.softmax(scores, dim=0)
    pooled, weights = pooling(activations)
    assert torch.allclose(weights[0], attention)
    assert torch.allclose(pooled[0], activations[0] @ attention)


def test_theta_head_is_bias_free():
    theta = L2ITheta(n_components=5, n_classes=3)
    assert theta.head.bias is None
    scores, pooled, attention = theta(torch.rand(2, 5, 7))
    assert (
        scores.shape == (2, 3)
        and pooled.shape == (2, 5)
        and attention.shape == (2, 7)
    )
    assert torch.allclose(attention.sum(dim=1), torch.ones(2))
    assert torch.allclose(scores, pooled @ theta.head.weight.T)


def test_interpreter_rejects_a_dictionary_of_another_size():
    psi = L2IPsi(LAYERS, 5, width=8)
    with pytest.raises(ValueError, match="must agree"):
        L2IInterpreter(psi, L2ITheta(5, 3), torch.rand(7, 4))


# --- metrics ------------------------------------------------------------------------------------------------
def test_first_rows_of_each_clip():
    assert first_rows(torch.tensor([0, 0, 1, 2, 2, 2])).tolist() == [
        True,
        False,
        True,
        True,
        False,
        False,
    ]


def test_collector_reports_the_issue_keys():
    collector = L2IMetricCollector()
    collector.append(
        ["a", "b", "c"],
        FF=torch.tensor([0.1, 0.5, 0.3]),
        FF_random=torch.tensor([0.0, 0.2, -0.1]),
    )
    collector.append_clips(
        torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.7, 0.6]]),
        torch.tensor([[1, 0], [0, 1], [1, 1]]),
    )
    summary = collector.summarize()
    assert summary["FF_median"] == pytest.approx(0.3) and summary[
        "FF_median_random"
    ] == pytest.approx(0.0)
    assert summary["FF_random"] == pytest.approx(0.1 / 3)
    assert summary["fidelity_macro_auprc"] == pytest.approx(1.0) and summary[
        "fidelity_max_f1"
    ] == pytest.approx(1.0)
    assert "fidelity_micro_auprc" in summary


# --- loading ------------------------------------------------------------------------------------------------
def exported(tmp_path, interpreter):
    classifier_folder = tmp_path / "classifier_source"
    classifier_folder.mkdir()
    (classifier_folder / "hyperparams.yaml").write_text("classes: [a, b, c]\n")
    return export_interpreter(
        str(tmp_path / "interpreter"),
        interpreter,
        interpreter.config,
        str(classifier_folder),
        method="l2i",
    )


def test_load_l2i_round_trip(tmp_path):
    interpreter = tiny_interpreter(freq_bands=2, kernel_size=3).eval()
    folder = exported(tmp_path, interpreter)
    loaded, description = load_l2i(
        str(tmp_path)
    )  # the run folder holding interpreter/ is accepted too
    assert description["method"] == "l2i"
    hidden = hidden_maps()
    with torch.no_grad():
        expected, got = interpreter(hidden, 16), loaded(hidden, 16)
    for a, b in zip(expected, got):
        assert torch.allclose(a, b)
    assert (
        torch.equal(loaded.dictionary, interpreter.dictionary)
        and loaded.tau == interpreter.tau
    )
    assert os.path.isfile(
        os.path.join(folder, "classifier", "hyperparams.yaml")
    )


def test_load_l2i_rejects_a_mismatched_checkpoint(tmp_path):
    folder = exported(tmp_path, tiny_interpreter())
    path = os.path.join(folder, "hyperparams.yaml")
    description = yaml.safe_load(open(path, encoding="utf-8"))
    description["decoder"]["psi"]["width"] = 16
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(description, handle)
    with pytest.raises(
        CheckpointError, match="decoder.ckpt: checkpoint does not match"
    ):
        load_l2i(folder)


def test_load_l2i_rejects_other_methods_and_broken_descriptions(tmp_path):
    folder = exported(tmp_path, tiny_interpreter())
    path = os.path.join(folder, "hyperparams.yaml")
    description = yaml.safe_load(open(path, encoding="utf-8"))
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(dict(description, method="lmac"), handle)
    with pytest.raises(CheckpointError, match="not an L2I interpreter"):
        load_l2i(folder)
    del description["decoder"]["theta"]
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(description, handle)
    with pytest.raises(
        CheckpointError, match="hyperparams.yaml: its L2I description"
    ):
        load_l2i(folder)
    with pytest.raises(CheckpointError, match="no trained interpreter"):
        load_l2i(str(tmp_path / "nowhere"))
