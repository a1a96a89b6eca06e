"""Sanity checks by retraining (model and data randomisation) of trained interpreters."""

import json
import math

import pytest
import torch

from interpretability.brains.interpreter import ClipView
from interpretability.classifiers.base import build_classifier
from interpretability.data.esc50 import prepare_esc50
from interpretability.data.synthetic import generate_dataset
from interpretability.evaluation.comparison import build_explainers
from interpretability.evaluation.explainers import TrainedExplainer
from interpretability.evaluation.retraining import (
    retrained_sanity,
    shuffled_label_manifest,
)
from interpretability.evaluation.tables import comparison_markdown
from interpretability.interpreters.lmac import LMACDecoder


@pytest.fixture(scope="module")
def manifests(tmp_path_factory):
    root = tmp_path_factory.mktemp("retrain")
    generate_dataset(
        root / "data",
        clips_per_class=5,
        duration=0.5,
        n_classes=3,
        seed=1,
        show_progress=False,
    )
    return prepare_esc50(
        str(root / "data"),
        str(root / "save"),
        train_folds=[1, 2, 3],
        valid_folds=[4],
        test_folds=[5],
    )


def test_shuffled_labels_are_a_permutation(manifests, tmp_path):
    out = shuffled_label_manifest(
        manifests["train"], str(tmp_path / "shuffled.json"), seed=3
    )
    with open(manifests["train"], encoding="utf-8") as handle:
        original = json.load(handle)
    with open(out, encoding="utf-8") as handle:
        shuffled = json.load(handle)
    assert list(shuffled) == list(original)
    assert sorted(e["label_id"] for e in shuffled.values()) == sorted(
        e["label_id"] for e in original.values()
    )
    assert [e["label_id"] for e in shuffled.values()] != [
        e["label_id"] for e in original.values()
    ]
    assert all(
        shuffled[k]["wav"] == original[k]["wav"] for k in original
    )  # only the labels move


def test_retrained_sanity_reports_both_randomisations_and_the_control(
    manifests, tmp_path
):
    torch.manual_seed(0)
    classifier = (
        build_classifier("compact_cnn", 3, channels=[4, 8, 8, 8])
        .eval()
        .requires_grad_(False)
    )
    channels = {
        name: 8 if name != "conv_block1" else 4
        for name in classifier.interpretable_layers
    }
    decoder = LMACDecoder(
        channels, width=8, min_width=4, head_channels=4
    ).eval()
    description = {
        "method": "lmac",
        "decoder": decoder.config,
        "training": {"epochs": 1, "batch_size": 4},
    }
    lmac = TrainedExplainer(decoder, "linear", description)
    explainers = build_explainers(
        classifier, {"lmac": lmac}, methods=("saliency",)
    )
    del explainers["all_ones"], explainers["random"]
    t = torch.arange(8000) / 16000
    wavs = (
        torch.stack([torch.sin(2 * torch.pi * f * t) for f in (300.0, 900.0)])
        * 0.3
    )
    views = [ClipView(wavs, classifier)]
    result = retrained_sanity(
        classifier,
        explainers,
        {"lmac": ("lmac", description, decoder, "linear")},
        views,
        manifests,
        0.5,
        str(tmp_path / "sanity"),
        classifier_epochs=1,
        seed=0,
    )
    assert set(result) == {"lmac", "saliency"}
    assert set(result["lmac"]) == {
        "retrain_control",
        "model_randomisation",
        "data_randomisation",
        "input_energy",
    }
    assert set(result["saliency"]) == {
        "model_randomisation",
        "data_randomisation",
        "input_energy",
    }
    for entry in result.values():
        assert all(
            -1 <= value <= 1 and not math.isnan(value)
            for value in entry.values()
        )
    assert (tmp_path / "sanity" / "train_shuffled_labels.json").is_file()
    markdown = comparison_markdown({"sanity_retrained": result})
    assert "| lmac |" in markdown and "retraining control" in markdown


def test_a_given_data_randomisation_classifier_is_used_and_must_match_the_architecture(
    manifests, tmp_path
):
    from interpretability.errors import InputError
    from interpretability.evaluation.sanity import rebind_view

    torch.manual_seed(0)
    classifier = (
        build_classifier("compact_cnn", 3, channels=[4, 8])
        .eval()
        .requires_grad_(False)
    )
    shuffled = (
        build_classifier("compact_cnn", 3, channels=[4, 8])
        .eval()
        .requires_grad_(False)
    )
    explainers = build_explainers(classifier, {}, methods=("saliency",))
    del explainers["all_ones"], explainers["random"]
    t = torch.arange(8000) / 16000
    wavs = torch.stack([torch.sin(2 * torch.pi * 440.0 * t)]) * 0.3
    views = [ClipView(wavs, classifier)]
    folder = tmp_path / "sanity"
    result = retrained_sanity(
        classifier,
        explainers,
        {},
        views,
        manifests,
        0.5,
        str(folder),
        seed=0,
        shuffled=shuffled,
    )
    # no classifier trained here: the data randomisation is the given one's saliency against the original's
    assert not (folder / "train_shuffled_labels.json").exists()
    saliency = explainers["saliency"]
    before = saliency.explain(views[0])
    after = saliency.with_classifier(shuffled).explain(
        rebind_view(views[0], shuffled)
    )
    from interpretability.metrics.sanity import mask_rank_correlation

    expected = float(mask_rank_correlation(before, after).mean())
    assert result["saliency"]["data_randomisation"] == pytest.approx(
        expected, abs=1e-5
    )
    other = build_classifier("compact_cnn", 3, channels=[4, 4]).eval()
    with pytest.raises(
        InputError, match="other/classifier: not of the explained classifier"
    ):
        retrained_sanity(
            classifier,
            explainers,
            {},
            views,
            manifests,
            0.5,
            str(tmp_path / "other"),
            seed=0,
            shuffled=other,
            shuffled_source="other/classifier",
        )


def test_retraining_precision_reaches_the_training_and_a_seed_repeats_it(
    manifests,
):
    from interpretability.data.pipelines import classification_datasets
    from interpretability.evaluation.retraining import train_interpreter

    torch.manual_seed(0)
    classifier = (
        build_classifier("compact_cnn", 3, channels=[4, 8])
        .eval()
        .requires_grad_(False)
    )
    channels = {
        name: 4 if name == "conv_block1" else 8
        for name in classifier.interpretable_layers
    }
    decoder = LMACDecoder(channels, width=8, min_width=4, head_channels=4)
    description = {
        "method": "lmac",
        "decoder": decoder.config,
        "training": {"epochs": 1, "batch_size": 4},
    }
    dataset = classification_datasets(manifests, 0.5, with_clean=False)["train"]

    def trained(precision):
        model = train_interpreter(
            "lmac",
            description,
            decoder,
            classifier,
            dataset,
            seed=3,
            precision=precision,
        )
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    fp32 = trained("fp32")
    assert torch.equal(
        fp32, trained("fp32")
    )  # the same seed trains the same model
    assert not torch.equal(fp32, trained("bf16"))  # bf16 autocast is applied
