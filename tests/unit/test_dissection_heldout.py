"""Held-out clips: pruning chosen on the probing clips and measured on others, the captioner's agreement with the
labels on clips that are not probed, and the warning for the acoustic captioner on data it has no words for."""

import json
import logging
import os

import pytest
import torch
from test_dissection_pipeline import (
    CLASSES,
    CountingCaptioner,
    HashEncoder,
    backends,
    clips,
    options,
    tiny_model,
)

from interpretability.dissection import agreement as ag
from interpretability.dissection.pipeline import (
    Dissection,
    ProbingSet,
    confidence_changes,
    heldout_splits_of,
)
from interpretability.errors import InputError


def heldout_clips(n_per_class=3, seed=1):
    probing = clips(n_per_class=n_per_class, seed=seed)
    return ProbingSet(
        ["h_" + i for i in probing.ids],
        probing.wav,
        probing.labels,
        probing.classes,
    )


def test_agreement_from_embeddings_on_a_hand_computed_case():
    concepts = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    descriptions = torch.tensor(
        [[1.0, 0.0], [0.6, 0.8], [0.8, 0.6], [1.0, 0.0]]
    )
    targets = [
        {0},
        {0},
        {1},
        set(),
    ]  # the last clip's class is no concept: left out
    share, predicted = ag.agreement_from_embeddings(
        descriptions, concepts, targets
    )
    assert predicted.tolist() == [0, 1, 0, 0] and share == pytest.approx(1 / 3)
    # centred: column means 0.85 and 0.35 over the 4 descriptions -> rows [.15 -.35], [-.25 .45], [-.05 .25]
    share, predicted = ag.agreement_from_embeddings(
        descriptions, concepts, targets, centering=True
    )
    assert predicted.tolist()[:3] == [0, 1, 1] and share == pytest.approx(2 / 3)
    assert ag.clip_targets(
        [[1, 0, 1], [0, 1, 0]], ["a", "b", "c"], ["c", "a"], multilabel=True
    ) == [{1, 0}, set()]


def test_pruning_is_measured_on_held_out_clips_with_the_neurons_chosen_on_the_probing_clips(
    tmp_path,
):
    probing, heldout = clips(), heldout_clips()
    captioner = CountingCaptioner()
    folder = str(tmp_path)
    d = Dissection(
        tiny_model(),
        probing,
        folder,
        options(pruning_strategies=("db",), random_repeats=2),
        backends(captioner=captioner),
        heldout=heldout,
    )
    metrics = d.run()
    record = json.load(open(os.path.join(folder, "pruning.json")))
    assert record["heldout_ids"] == heldout.ids
    measured = {
        t: r for t, r in record["strategies"]["db"].items() if r["effect"]
    }
    assert measured, "no target had neurons to prune"
    target, run = next(iter(measured.items()))
    assert run["heldout"]["n_clips"] == len(heldout)
    # the held-out effect is the confidence change on the held-out clips, for the neurons chosen on the probing ones
    target_index = CLASSES.index(target)
    own = torch.tensor(heldout.labels)
    expected = confidence_changes(
        d._logits(range(len(heldout)), which="heldout"),
        d._logits(range(len(heldout)), run["selected"], which="heldout"),
        own,
        target_index,
    )
    for key in ("delta_A", "delta_R", "delta_A_logit"):
        assert run["heldout"]["effect"][key] == pytest.approx(
            expected[key], abs=1e-6
        ), key
    assert run["heldout"]["effect"] != run["effect"]
    held = metrics["pruning"]["heldout"]
    assert {
        "delta_A",
        "delta_R",
        "delta_A_random",
        "vs_random",
        "selectivity",
        "n_targets",
    } <= set(held)
    assert held["vs_random"] == pytest.approx(
        held["delta_A_random"] - held["delta_A"]
    )
    # the captioner's agreement: the held-out clips described once each, matched to the concepts
    assert captioner.calls == len(probing) + len(heldout)
    data = json.load(open(os.path.join(folder, "captioner_agreement.json")))
    assert data["ids"] == heldout.ids and data["centering"] is False
    hits = [
        p == CLASSES[label]
        for p, label in zip(data["predicted"], heldout.labels)
    ]
    assert metrics["captioner_agreement_heldout"] == pytest.approx(
        sum(hits) / len(hits)
    )
    assert metrics["n_heldout_clips"] == len(heldout)
    # a rerun in the same folder with other held-out clips is refused, by the agreement and by the pruning stage
    with pytest.raises(InputError, match="other held-out clips"):
        Dissection(
            tiny_model(),
            probing,
            folder,
            options(pruning_strategies=("db",), random_repeats=2),
            backends(),
            heldout=heldout_clips(n_per_class=2),
        ).run()
    with pytest.raises(
        InputError, match="pruning.json: measured on other held-out clips"
    ):
        Dissection(
            tiny_model(),
            probing,
            folder,
            options(
                pruning_strategies=("db",),
                random_repeats=2,
                skip=("agreement",),
            ),
            backends(),
            heldout=heldout_clips(n_per_class=2),
        ).run()


def test_held_out_clips_must_not_be_probing_clips_and_splits_default_to_valid():
    with pytest.raises(InputError, match="probing clips"):
        Dissection(
            tiny_model(),
            clips(),
            "/tmp/unused-and-folder",
            options(),
            backends(),
            heldout=clips(),
        )
    manifests = {
        "train": "t.json",
        "valid": "v.json",
        "test": "x.json",
        "classes": [],
    }
    assert heldout_splits_of(None, ["test"], manifests) == ["valid"]
    assert heldout_splits_of(None, ["valid", "test"], manifests) == ["train"]
    assert heldout_splits_of([], ["test"], manifests) == []
    with pytest.raises(InputError, match="probing splits too"):
        heldout_splits_of(["test"], ["test"], manifests)
    with pytest.raises(InputError, match="not prepared"):
        heldout_splits_of(["dev"], ["test"], manifests)


def test_acoustic_captioner_on_other_data_than_the_synthetic_set_warns_and_names_the_backends(
    tmp_path, caplog
):
    caplog.set_level(logging.WARNING)
    run = options(skip=("pruning", "summaries", "analysis", "label_based"))
    Dissection(
        tiny_model(), clips(), str(tmp_path / "a"), run, backends()
    ).run()
    warnings = [
        r.getMessage()
        for r in caplog.records
        if "acoustic captioner" in r.getMessage()
    ]
    assert len(warnings) == 1
    assert (
        "TransformersAudioCaptioner" in warnings[0]
        and "ClapEncoder" in warnings[0]
        and "DB" in warnings[0]
    )
    caplog.clear()
    Dissection(
        tiny_model(),
        clips(),
        str(tmp_path / "b"),
        run,
        backends(),
        synthetic=True,
    ).run()
    assert not [
        r for r in caplog.records if "acoustic captioner" in r.getMessage()
    ]


def test_synthetic_data_is_told_by_its_ground_truth_files_or_its_class_names(
    tmp_path,
):
    assert ag.is_synthetic_data(["pure_tone", "Rising-Chirp", "siren"])
    assert not ag.is_synthetic_data(["dog", "siren"])
    assert not ag.is_synthetic_data(["dog"], str(tmp_path))
    os.makedirs(tmp_path / "audio_clean")
    os.makedirs(tmp_path / "meta")
    (tmp_path / "meta" / "events.csv").write_text("filename,category\n")
    assert ag.is_synthetic_data(["dog"], str(tmp_path))


def test_agreement_command_on_a_small_synthetic_set(
    tmp_path, monkeypatch, caplog
):
    from interpretability.data.synthetic import generate_dataset
    from interpretability.dissection import encoders

    generate_dataset(
        tmp_path / "data",
        layout="esc50",
        clips_per_class=5,
        duration=1.0,
        n_classes=3,
        seed=1,
        show_progress=False,
    )
    monkeypatch.setattr(encoders, "SentenceEncoder", HashEncoder)
    caplog.set_level(logging.INFO)
    out = tmp_path / "agreement.json"
    assert (
        ag.main(
            [
                "--data_folder",
                str(tmp_path / "data"),
                "--splits",
                "valid",
                "--clip_seconds",
                "1.0",
                "--output",
                str(out),
            ]
        )
        == 0
    )
    result = json.load(open(out))
    assert (
        result["n_clips"] == 3
        and len(result["descriptions"]) == 3
        and result["splits"] == ["valid"]
    )
    assert 0.0 <= result["agreement"] <= 1.0 and result["centering"] is True
    assert not [
        r for r in caplog.records if "acoustic captioner" in r.getMessage()
    ]  # the synthetic set
    assert ag.main(["--data_folder", str(tmp_path / "missing")]) == 2
