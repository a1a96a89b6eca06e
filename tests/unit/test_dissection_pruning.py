"""Concept matching, neuron selection, ablation by neuron id, pruning effect, random control; uninterpretable share."""

import math

import pytest
import torch
import torch.nn as nn

from interpretability.dissection.analysis import (
    description_clusters,
    plot_uninterpretable,
    uninterpretable_neurons,
    uninterpretable_share,
)
from interpretability.dissection.pruning import (
    ablate,
    concepts_match,
    pruning_effect,
    random_control,
    select_neurons,
)
from interpretability.errors import InputError


class WordEncoder:
    """Deterministic stand-in: one-hot per known word group (synonyms share a row)."""

    groups = [
        {"water", "drip", "dripping", "water drops"},
        {"dog", "bark", "barking"},
        {"mouse"},
        {"use"},
    ]

    def encode(self, texts):
        rows = torch.zeros(len(texts), len(self.groups) + 1)
        for i, text in enumerate(texts):
            hit = [
                g
                for g, words in enumerate(self.groups)
                if text.lower() in words
            ]
            rows[i, hit[0] if hit else len(self.groups)] = 1.0
        return rows


def test_concepts_match_by_lemma_or_embedding_never_by_substring():
    assert not concepts_match("mouse", "use")
    assert not concepts_match("mouse click", "use")
    assert concepts_match("Water_drops", "water drop")
    assert concepts_match("dogs", "dog")
    assert not concepts_match("dripping", "water drops")
    assert concepts_match(
        "dripping", "water drops", text_encoder=WordEncoder(), threshold=0.9
    )
    assert not concepts_match(
        "mouse", "use", text_encoder=WordEncoder(), threshold=0.9
    )


def test_select_neurons_per_strategy():
    closed = {
        "fc": {
            0: ["mouse_click", "dog"],
            1: ["use", "dog"],
            2: ["dog", "rain"],
        },
        "block": {"3": ["dogs", "rain"]},
    }
    assert select_neurons(closed, "dog", strategy="db") == {
        "fc": [2],
        "block": [3],
    }
    assert select_neurons(closed, "dog", strategy="tab", top_n=2) == {
        "fc": [0, 1, 2],
        "block": [3],
    }
    assert select_neurons(closed, "use", strategy="db") == {"fc": [1]}
    open_concepts = {
        "block": {
            0: {"dripping": 2, "loud": 1},
            1: {"barking": 3},
            2: {"mouse": 1},
        }
    }
    assert select_neurons(
        open_concepts,
        "water drops",
        strategy="open",
        text_encoder=WordEncoder(),
        threshold=0.9,
    ) == {"block": [0]}
    assert (
        select_neurons(
            open_concepts, "use", strategy="open", text_encoder=WordEncoder()
        )
        == {}
    )
    # a multi-word target named by several single-word open concepts, whole words only
    words = {
        "block": {
            0: {"rising": 1, "chirps": 2},
            1: {"rising": 1},
            2: {"uprising": 1, "chirp": 1},
        }
    }
    assert select_neurons(words, "rising_chirp", strategy="open") == {
        "block": [0]
    }
    assert (
        select_neurons(
            {"fc": {0: ["rising", "chirp"]}},
            "rising_chirp",
            strategy="db",
            top_n=2,
        )
        == {}
    )
    with pytest.raises(ValueError):
        select_neurons(closed, "dog", strategy="substring")


class TwoConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 2, 1)

    def forward(self, x):
        return self.conv2(self.conv1(x))


def test_ablation_zeroes_exactly_the_listed_channel_and_restores():
    torch.manual_seed(0)
    model, x = TwoConv().eval(), torch.randn(3, 1, 5, 5)
    with torch.no_grad():
        h = model.conv1(x)
        before = model(x)
        with ablate(model, {"conv1": [2]}):
            seen = {}
            handle = model.conv1.register_forward_hook(
                lambda m, i, o: seen.setdefault("h", o)
            )
            after = model(x)
            handle.remove()
        restored = model(x)
    assert torch.equal(seen["h"][:, 2], torch.zeros_like(h[:, 2]))
    assert torch.equal(seen["h"][:, [0, 1, 3]], h[:, [0, 1, 3]])
    # conv2 is linear (1x1): the output changes by exactly channel 2's contribution
    contribution = torch.einsum(
        "o,bhw->bohw", model.conv2.weight[:, 2, 0, 0], h[:, 2]
    )
    assert torch.allclose(before - after, contribution, atol=1e-5)
    assert torch.equal(restored, before) and not model.conv1._forward_hooks


def test_ablation_of_linear_units_and_bad_ids():
    layer = nn.Linear(3, 4)
    model = nn.Sequential(layer).eval()
    x = torch.randn(2, 5, 3)
    with torch.no_grad(), ablate(model, {"0": [1, 3]}):
        y = model(x)
    assert torch.equal(y[..., [1, 3]], torch.zeros(2, 5, 2))
    assert torch.allclose(y[..., [0, 2]], layer(x)[..., [0, 2]].detach())
    with pytest.raises(InputError, match="4 neurons"):
        with torch.no_grad(), ablate(model, {"0": [4]}):
            model(x)
    assert not layer._forward_hooks


def test_pruning_effect_on_a_model_with_known_answer():
    # logits = features (identity head); ablating unit 0 sets class-0 logit to 0
    model = nn.Sequential(nn.Identity()).eval()
    logits = torch.tensor([[2.0, 0.0], [1.0, 1.0], [0.0, 3.0], [3.0, 0.0]])
    labels = [0, 0, 1, 1]
    batches = [(["a", "b"], logits[:2]), (["c", "d"], logits[2:])]
    result = pruning_effect(
        model,
        None,
        batches,
        labels,
        target_class=0,
        ablation={"0": [0]},
        progress=False,
    )

    def p0(z0, z1):
        return math.exp(z0) / (math.exp(z0) + math.exp(z1))

    delta_a = ((p0(0, 0) - p0(2, 0)) + (p0(0, 1) - p0(1, 1))) / 2
    delta_r = (
        ((1 - p0(0, 3)) - (1 - p0(0, 3))) + ((1 - p0(0, 0)) - (1 - p0(3, 0)))
    ) / 2
    assert result["delta_A"] == pytest.approx(delta_a)
    assert result["delta_R"] == pytest.approx(delta_r)
    assert result["delta_A_logit"] == pytest.approx((-2.0 - 1.0) / 2)
    assert result["delta_R_logit"] == pytest.approx(0.0)
    assert (result["n_A"], result["n_R"], result["n_neurons"]) == (2, 2, 1)
    by_id = pruning_effect(
        model,
        None,
        batches,
        {"a": 0, "b": 0, "c": 1, "d": 1},
        0,
        {"0": [0]},
        progress=False,
    )
    assert by_id == result


def test_random_control_is_seeded_and_the_same_size():
    selected = {"a": [1, 2, 3], "b": [0]}
    first = random_control(selected, {"a": 10, "b": 5}, seed=3)
    assert first == random_control(selected, {"a": 10, "b": 5}, seed=3)
    assert {k: len(v) for k, v in first.items()} == {"a": 3, "b": 1}
    assert all(0 <= i < 10 for i in first["a"])
    excluded = random_control(
        selected, {"a": 6, "b": 5}, seed=0, exclude_selected=True
    )
    assert excluded["a"] == [0, 4, 5] and excluded["b"][0] in (1, 2, 3, 4)
    with pytest.raises(ValueError):
        random_control({"a": [0, 1]}, {"a": 3}, exclude_selected=True)


# ------------------------------------------------------------------------------------------ analysis
def test_uninterpretable_neurons_from_clusters():
    clusters = [{0}, {0, 1}, {1}, {2}, {0}, {2}]
    top = torch.tensor([[0, 1, 4], [1, 2, 3], [0, 3, 5]])
    # neuron 0: cluster 0 holds 3/3; neuron 1: cluster 1 holds 2/3; neuron 2: cluster 2 holds 2/3
    assert uninterpretable_neurons(top, clusters, tau=1.0).tolist() == [
        False,
        True,
        True,
    ]
    assert uninterpretable_neurons(top, clusters, tau=0.6).tolist() == [
        False,
        False,
        False,
    ]
    assert uninterpretable_share(
        {"l1": top, "l2": top[:1]}, clusters, tau=1.0
    ) == {"l1": pytest.approx(2 / 3), "l2": 0.0}


def test_description_clusters_and_plot(tmp_path):
    class AxisEncoder:
        def encode(self, texts):
            rows = torch.tensor(
                [[1.0, 0.0] if "loud" in t else [0.0, 1.0] for t in texts]
            )
            return rows

    descriptions = [
        "A loud sound. It rises.",
        "A loud bang.",
        "It rises slowly.",
    ]
    clusters = description_clusters(
        descriptions, AxisEncoder(), n_clusters=2, unit="sentence"
    )
    (loud,) = clusters[1]
    assert clusters[0] == {0, 1}
    assert clusters[2] == {0, 1} - {loud}
    # whole descriptions: one cluster each ("loud" in the first two, not in the third)
    whole = description_clusters(descriptions, AxisEncoder(), n_clusters=2)
    assert (
        whole[0] == whole[1]
        and len(whole[0]) == 1
        and whole[2].isdisjoint(whole[0])
        and len(whole[2]) == 1
    )
    # a sentence every description shares joins all clips in one cluster: sentence clustering cannot tell apart
    shared = [d + " It is a single short event." for d in descriptions]
    by_sentence = description_clusters(
        shared, AxisEncoder(), n_clusters=2, unit="sentence"
    )
    top = torch.tensor([[0, 1, 2]])
    assert not uninterpretable_neurons(top, by_sentence, tau=1.0).item()
    assert uninterpretable_neurons(
        top, description_clusters(shared, AxisEncoder(), n_clusters=2), tau=1.0
    ).item()
    with pytest.raises(ValueError, match="unit"):
        description_clusters(descriptions, AxisEncoder(), unit="word")
    path = plot_uninterpretable(
        {
            "AST": {"block1": 0.5, "block2": 0.2},
            "BEATs": {"block1": 0.4, "block2": 0.4},
        },
        str(tmp_path / "share.png"),
    )
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_ablated_forward_resumed_after_a_block_equals_the_whole_forward():
    from interpretability.classifiers.base import build_classifier
    from interpretability.dissection.pruning import resume_point

    torch.manual_seed(0)
    model = build_classifier(
        "compact_cnn", n_classes=3, channels=[4, 8, 8, 16]
    ).eval()
    blocks = [f"encoder.{b}" for b in model.encoder.block_names]
    assert resume_point(model, {blocks[2]: [1], "head": [0]}) == blocks[1]
    assert resume_point(model, {"head": [2]}) == "encoder"
    assert (
        resume_point(model, {blocks[0]: [1]}) is None
    )  # nothing before it to start from
    assert (
        resume_point(model, {f"{blocks[2]}.conv1": [1]}) is None
    )  # not a step of the forward
    assert resume_point(model, {blocks[2]: []}) is None  # nothing ablated
    assert resume_point(nn.Linear(3, 2), {"weight": [0]}) is None

    magnitude = torch.rand(5, 40, 513)
    for ablation in ({blocks[2]: [1, 3], "head": [0]}, {"head": [1]}):
        point = resume_point(model, ablation)
        captured = []
        handle = model.get_submodule(point).register_forward_hook(
            lambda _m, _i, out: captured.append(
                out[0] if isinstance(out, tuple) else out
            )
        )
        with torch.no_grad():
            model(magnitude)
        handle.remove()
        with torch.no_grad(), ablate(model, ablation):
            whole = model(magnitude)
            resumed = model.forward_after(point, captured[0])
        assert torch.allclose(resumed, whole, atol=1e-6)
        assert not torch.allclose(
            whole, model(magnitude).detach()
        )  # the ablation changes the logits


def test_dissection_logits_of_an_ablation_are_those_of_the_whole_forward(
    tmp_path,
):
    from test_dissection_pipeline import backends, clips, options, tiny_model

    from interpretability.dissection.pipeline import Dissection

    model, probing = tiny_model(), clips()
    d = Dissection(model, probing, str(tmp_path), options(), backends())
    last = f"encoder.{model.encoder.block_names[-1]}"
    ablation = {last: [0, 2], "head": [1]}
    magnitude = torch.stack([d._magnitude(i) for i in range(len(probing))])
    with torch.no_grad(), ablate(model, ablation):
        whole = model(magnitude)
    resumed = d._logits(range(len(probing)), ablation)
    assert (
        "encoder." + model.encoder.block_names[-2],
        "probing",
    ) in d._resume_cache
    assert torch.allclose(resumed, whole, atol=1e-6)
    assert torch.allclose(d._logits([3, 1], ablation), whole[[3, 1]], atol=1e-6)
