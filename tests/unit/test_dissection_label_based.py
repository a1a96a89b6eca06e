"""Label-based dissection: IoU of top-K clips with label concepts, ESC-50 categories, selectivity, and the
pipeline's captioner-free figures (``label_based`` and ``last_layer_top1.selectivity`` in test_metrics.json)."""

import json
import math
import os

import pytest
import torch
from test_dissection_pipeline import (
    CLASSES,
    LAYERS,
    backends,
    clips,
    options,
    tiny_model,
)

from interpretability.dissection.analysis import uninterpretable_neurons
from interpretability.dissection.label_based import (
    class_matrix,
    clip_concept_sets,
    concept_masks,
    default_groups,
    label_concepts,
    overlap_scores,
    rank_by_overlap,
    top_k_share,
)
from interpretability.dissection.pipeline import (
    Dissection,
    options_from_hparams,
)

# 6 clips: two of class a, two of b, two of c; group ab = {a, b}
LABELS = [0, 0, 1, 1, 2, 2]
TOP = torch.tensor([[0, 1, 2], [2, 4, 0]])


def masks_abc():
    concepts, membership = label_concepts(["a", "b", "c"], {"ab": ["a", "b"]})
    return concepts, concept_masks(class_matrix(LABELS, 3), membership)


def test_overlap_scores_ranking_and_shares_on_hand_computed_cases():
    concepts, masks = masks_abc()
    assert concepts == ["a", "b", "c", "ab"]
    assert masks.sum(dim=0).tolist() == [2, 2, 2, 4]
    scores = overlap_scores(TOP, masks)
    # neuron 0 (clips 0, 1, 2): a holds 2 of 3 -> 2 / (3 + 2 - 2); b 1 / (3 + 2 - 1); c none; ab 3 / (3 + 4 - 3)
    assert scores[0].tolist() == pytest.approx([2 / 3, 1 / 4, 0.0, 3 / 4])
    # neuron 1 (clips 2, 4, 0): a, b, c one each (1 / 4), ab two: 2 / (3 + 4 - 2)
    assert scores[1].tolist() == pytest.approx([1 / 4, 1 / 4, 1 / 4, 2 / 5])
    ranked = rank_by_overlap(scores, TOP, masks, concepts)
    assert ranked[0] == ["ab", "a", "b", "c"]
    assert ranked[1] == [
        "ab",
        "b",
        "c",
        "a",
    ]  # ties: b's clip ranks first (clip 2), then c's (clip 4), then a
    share = top_k_share(TOP, masks, [0, -1])
    assert share[0] == pytest.approx(2 / 3) and math.isnan(share[1])
    clusters = clip_concept_sets(masks)
    assert clusters[0] == {0, 3} and clusters[5] == {2}
    assert uninterpretable_neurons(TOP, clusters, 1.0).tolist() == [
        False,
        True,
    ]  # ab holds 3/3, then 2/3
    assert uninterpretable_neurons(TOP, clusters, 0.6).tolist() == [
        False,
        False,
    ]


def test_esc50_major_categories_and_label_concept_validation():
    assert default_groups(["dog", "rain", "cat", "car_horn"]) == {
        "animals": ["dog", "cat"],
        "natural soundscapes and water sounds": ["rain"],
        "exterior and urban noises": ["car_horn"],
    }
    assert (
        default_groups(["pure_tone", "siren"]) == {}
    )  # not every class is an ESC-50 class
    concepts, membership = label_concepts(["dog", "cat", "rain"])
    assert concepts == [
        "dog",
        "cat",
        "rain",
        "animals",
        "natural soundscapes and water sounds",
    ]
    assert membership.int().tolist() == [
        [1, 0, 0],
        [0, 1, 0],
        [0, 0, 1],
        [1, 1, 0],
        [0, 0, 1],
    ]
    assert label_concepts(["dog", "cat"], {})[0] == ["dog", "cat"]
    with pytest.raises(ValueError, match="not in the data"):
        label_concepts(["a", "b"], {"g": ["a", "x"]})
    with pytest.raises(ValueError, match="name of a class"):
        label_concepts(["a", "b"], {"a": ["b"]})
    multi = class_matrix([[1, 0, 1], [0, 0, 0]], 3, multilabel=True)
    assert multi.int().tolist() == [[1, 0, 1], [0, 0, 0]]


def _expected_from_stage_files(folder, k=3):
    """Selectivity and label-based figures recomputed from top_k.json and probing.json by plain counting."""
    top = json.load(open(os.path.join(folder, "top_k.json")))["layers"]
    labels = json.load(open(os.path.join(folder, "probing.json")))["labels"]
    head = top["head"]["top"]
    own_share = [
        sum(labels[i] == n for i in row) / k for n, row in enumerate(head)
    ]
    best, best_share = [], []
    for n, row in enumerate(head):
        counts = [sum(labels[i] == c for i in row) for c in range(3)]
        iou = [h / (k + labels.count(c) - h) for c, h in enumerate(counts)]
        first = [
            next((p for p, i in enumerate(row) if labels[i] == c), k)
            for c in range(3)
        ]
        c = sorted(range(3), key=lambda c: (-iou[c], first[c], c))[0]
        best.append(c)
        best_share.append(counts[c] / k)
    return {
        "selectivity": sum(own_share) / len(own_share),
        "top1": sum(b == n for n, b in enumerate(best)) / len(best),
        "head_label_selectivity": sum(best_share) / len(best_share),
    }


def test_label_based_run_without_descriptions_gives_captioner_free_figures(
    tmp_path,
):
    class NoCaptioner:
        def __init__(self):
            raise AssertionError(
                "the captioner is built although descriptions are skipped"
            )

    class NoEncoder:
        def __init__(self):
            raise AssertionError(
                "a text encoder is built although nothing needs one"
            )

    folder = str(tmp_path)
    metrics = Dissection(
        tiny_model(),
        clips(),
        folder,
        options(skip=("descriptions",), pruning_strategies=("label",)),
        backends(captioner=NoCaptioner, encoder=NoEncoder),
    ).run()
    for missing in (
        "descriptions.json",
        "closed_db.pt",
        "summaries.json",
        "uninterpretable.json",
    ):
        assert not os.path.exists(os.path.join(folder, missing)), missing
    expected = _expected_from_stage_files(folder)
    assert metrics["last_layer_top1"] == {
        "selectivity": pytest.approx(expected["selectivity"])
    }
    label = metrics["label_based"]
    assert label["concepts"] == 3 and label["last_layer_top1"] == pytest.approx(
        expected["top1"]
    )
    assert label["last_layer_top5"] == 1.0  # 3 concepts
    assert label["selectivity"]["head"] == pytest.approx(
        expected["head_label_selectivity"]
    )
    assert set(label["uninterpretable"]) == set(LAYERS) and set(
        label["uninterpretable_by_tau"]
    ) == {"0.6", "1"}
    assert label["pruning"]["strategy"] == "label" and "pruning" in metrics
    assert (
        metrics["pruning"]["strategy"] == "label"
    )  # the only strategy that ran
    pruning = json.load(open(os.path.join(folder, "pruning.json")))[
        "strategies"
    ]["label"]
    scores = torch.load(
        os.path.join(folder, "closed_label.pt"), weights_only=True
    )["scores"]
    block = "encoder.conv_block2"
    best = {
        n
        for n in range(scores[block].shape[0])
        if CLASSES[int(scores[block][n].argmax())] == CLASSES[0]
        and scores[block][n].max() > 0
    }
    assert set(pruning[CLASSES[0]]["selected"].get(block, [])) <= best
    head = json.load(open(os.path.join(folder, "neurons_head.json")))
    assert head["label_concepts"] == CLASSES
    first = head["neurons"][0]
    assert (
        first["top_clips"][0]["label"] in CLASSES
        and "description" not in first["top_clips"][0]
    )
    assert [c["concept"] for c in first["closed_concepts"]["label"]][
        0
    ] in CLASSES


def test_recipes_skip_stages_by_the_skip_stages_hparam():
    # "--skip" on a recipe's command line is taken by SpeechBrain as its --skip_nonfinite_grads
    assert options_from_hparams(
        {"layers": ["head"], "skip_stages": ["descriptions"]}
    ).skip == ("descriptions",)
    assert options_from_hparams(
        {"layers": ["head"], "skip": ["tab"], "skip_stages": []}
    ).skip == ("tab",)
