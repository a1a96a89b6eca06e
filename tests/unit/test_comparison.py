"""The comparison protocol (interpretability/evaluation): conditions, controls, sanity check, tables, margins."""

import math

import pytest
import torch

from interpretability.audio import write_audio
from interpretability.brains.interpreter import ClipView
from interpretability.classifiers.base import build_classifier
from interpretability.classifiers.io import export_classifier
from interpretability.data.mixtures import ContaminantBank
from interpretability.errors import CheckpointError, DataError, InputError
from interpretability.evaluation.comparison import (
    build_explainers,
    compare,
    other_class_partners,
)
from interpretability.evaluation.explainers import (
    AllOnesExplainer,
    RandomExplainer,
    TrainedExplainer,
    check_same_classifier,
)
from interpretability.evaluation.sanity import (
    cascade_steps,
    cascading_randomisation,
    randomised_classifiers,
)
from interpretability.evaluation.tables import (
    comparison_markdown,
    condition_table,
    margins,
)
from interpretability.interpreters.gradient import gradient_explainers
from interpretability.interpreters.l2i import L2IInterpreter, L2IPsi, L2ITheta
from interpretability.interpreters.lmac import LMACDecoder

SMALL = dict(smoothgrad_samples=2, ig_steps=2, shap_samples=2)


def _classifier(n_classes=3, multilabel=False, seed=0):
    torch.manual_seed(seed)
    classifier = build_classifier(
        "compact_cnn", n_classes, channels=[4, 8, 8, 8], multilabel=multilabel
    )
    with torch.no_grad():
        classifier.train()
        classifier(torch.rand(4, 44, 513))
    return classifier.eval().requires_grad_(False)


def _decoder(classifier, n_masks=1):
    channels = {
        name: 8 if name != "conv_block1" else 4
        for name in classifier.interpretable_layers
    }
    return LMACDecoder(
        channels, width=8, min_width=4, head_channels=4, n_masks=n_masks
    ).eval()


def _clips(n, seed=0):
    generator = torch.Generator().manual_seed(seed)
    t = torch.arange(8000) / 16000
    tones = torch.stack(
        [torch.sin(2 * torch.pi * (300 + 700 * i) * t) for i in range(n)]
    )
    return 0.3 * tones + 0.05 * torch.randn(n, 8000, generator=generator)


def test_other_class_partners_share_no_class():
    labels = [{0}, {0}, {1}, {2, 0}, set()]
    partners = other_class_partners(labels, torch.Generator().manual_seed(0))
    assert len(partners) == 5
    for index, partner in enumerate(partners):
        assert partner != index and not (labels[index] & labels[partner])
    assert partners[0] in (2, 4) and partners[3] in (2, 4)
    with pytest.raises(DataError, match="no clip of another class"):
        other_class_partners([{1}, {1}], torch.Generator())


def test_random_control_matches_the_reference_mean_and_ignores_the_model():
    class Constant:
        def __init__(self, value):
            self.value = value

        def explain(self, view):
            return torch.full_like(view.magnitude, self.value)

    rows = type("Rows", (), {"magnitude": torch.zeros(2, 60, 70)})()
    low = RandomExplainer(Constant(0.2), seed=3).explain(rows)
    high = RandomExplainer(Constant(0.8), seed=3).explain(rows)
    plain = RandomExplainer(None, seed=3).explain(rows)
    assert (
        low.min() >= 0
        and low.max() <= 0.4
        and abs(float(low.mean()) - 0.2) < 0.01
    )
    assert (
        high.min() >= 0.6
        and high.max() <= 1
        and abs(float(high.mean()) - 0.8) < 0.01
    )
    assert abs(float(plain.mean()) - 0.5) < 0.01
    assert torch.equal(
        plain, RandomExplainer(None, seed=3).explain(rows)
    )  # same field on every call
    assert torch.allclose(low, 0.4 * plain) and torch.allclose(
        high, 0.6 + 0.4 * plain
    )


def test_compare_every_method(tmp_path):
    classifier = _classifier()
    lmac = TrainedExplainer(_decoder(classifier))
    psi = L2IPsi(
        {
            name: 8 if name != "conv_block1" else 4
            for name in classifier.interpretable_layers
        },
        6,
        width=8,
    )
    l2i = TrainedExplainer(
        L2IInterpreter(
            psi, L2ITheta(6, 3, attention_dim=4), torch.rand(513, 6), tau=0.0
        )
    )
    explainers = build_explainers(
        classifier, {"lmac": lmac, "l2i": l2i}, gradient_settings=SMALL
    )
    explainers.update(
        gradient_explainers(classifier, ("saliency", "gradcam"), "mel")
    )
    batches = [
        {"ids": ["a", "b"], "wavs": _clips(2), "clean": _clips(2, seed=1)}
    ]
    results, views = compare(
        classifier, explainers, batches, ("in_domain",), show_progress=False
    )
    by_method = results["in_domain"]
    assert len(views) == 1 and set(by_method) == {
        "saliency",
        "smoothgrad",
        "integrated_gradients",
        "gradcam",
        "guided_backprop",
        "guided_gradcam",
        "shap",
        "lmac",
        "l2i",
        "all_ones",
        "random",
        "saliency_mel",
        "gradcam_mel",
    }
    assert all(by_method[m]["n_rows"] == 2 for m in by_method)
    ones = by_method["all_ones"]
    assert (
        ones["AI"] == 0
        and ones["AD"] == 0
        and ones["AG"] == 0
        and ones["MM"] == 1
        and ones["FidIn"] == 1
    )
    assert abs(by_method["random"]["MM"] - by_method["lmac"]["MM"]) < 0.01
    assert (
        "SISDR_gain" in by_method["lmac"]
        and "SISDR_gain" not in by_method["saliency_mel"]
    )
    assert by_method["saliency"]["MM"] != by_method["saliency_mel"]["MM"]


def test_compare_every_condition(tmp_path):
    classifier = _classifier()
    explainers = build_explainers(
        classifier,
        {"lmac": TrainedExplainer(_decoder(classifier))},
        methods=("saliency",),
    )
    for i in range(2):
        write_audio(str(tmp_path / f"speech{i}.wav"), 0.1 * torch.randn(12000))
    bank = ContaminantBank(str(tmp_path), num_samples=8000)
    wavs = _clips(2)
    batches = [
        {
            "ids": ["a", "b"],
            "wavs": wavs,
            "clean": _clips(2, seed=1),
            "partner_wavs": wavs.flip(0),
        }
    ]
    conditions = (
        "in_domain",
        "other_class_mixture",
        "white_noise",
        "speech_mixture",
    )
    results, _ = compare(
        classifier,
        explainers,
        batches,
        conditions,
        speech_bank=bank,
        show_progress=False,
    )
    assert list(results) == list(conditions)
    for condition in conditions:
        assert set(results[condition]) == {
            "saliency",
            "lmac",
            "all_ones",
            "random",
        }
        assert results[condition]["all_ones"]["AD"] == 0
    # the conditions really change the input: the same input would give the same metrics
    sisdr = [results[c]["lmac"]["SISDR_input"] for c in conditions]
    assert len(set(sisdr)) == 4 and sisdr[0] == max(sisdr)
    with pytest.raises(InputError, match="speech"):
        compare(
            classifier,
            explainers,
            batches,
            ("speech_mixture",),
            show_progress=False,
        )


def test_multilabel_rows_are_clip_class_pairs():
    classifier = _classifier(n_classes=4, multilabel=True)
    with torch.no_grad():
        classifier.head.bias.copy_(
            torch.tensor([4.0, 4.0, -4.0, -4.0])
        )  # two classes present in every clip
    lmac = TrainedExplainer(_decoder(classifier, n_masks=4))
    explainers = build_explainers(
        classifier, {"lmac": lmac}, methods=("saliency", "gradcam")
    )
    batches = [{"ids": ["a", "b"], "wavs": _clips(2)}]
    results, _ = compare(
        classifier,
        explainers,
        batches,
        ("in_domain",),
        classes=list("wxyz"),
        show_progress=False,
    )
    assert results["in_domain"]["lmac"]["n_rows"] == 4
    assert results["in_domain"]["saliency"]["n_rows"] == 4


class _QuietTruth:
    """A gradient-style explainer: the clean target's magnitude scaled to a maximum of 0.3 (right ranking, small
    values)."""

    def explain(self, view):
        magnitude = view.clean_magnitude
        return (
            0.3 * magnitude / magnitude.flatten(1).amax(dim=1).reshape(-1, 1, 1)
        )


def test_ground_truth_metrics_area_matched_and_thresholded():
    classifier = _classifier()
    batches = [
        {"ids": ["a", "b"], "wavs": _clips(2), "clean": _clips(2, seed=1)}
    ]
    results, _ = compare(
        classifier,
        {"quiet_truth": _QuietTruth()},
        batches,
        ("in_domain",),
        show_progress=False,
    )
    scores = results["in_domain"]["quiet_truth"]
    assert scores["IoU"] == pytest.approx(1.0) and scores[
        "precision"
    ] == pytest.approx(scores["recall"])
    assert scores["IoU_at_0.5"] == 0 and scores["recall_at_0.5"] == 0


def test_mixtures_without_annotations_are_scored_against_the_clip_before_mixing():
    """Real data has no clean event: in-domain rows get no ground truth, but in a mixture the clip before mixing
    is the target, so SI-SDR and the oracle overlap are reported there (the same code path as with audio_clean/)."""
    classifier = _classifier()
    explainers = build_explainers(
        classifier,
        {"lmac": TrainedExplainer(_decoder(classifier))},
        methods=("saliency",),
    )
    wavs = _clips(2)
    batches = [{"ids": ["a", "b"], "wavs": wavs, "partner_wavs": wavs.flip(0)}]
    results, _ = compare(
        classifier,
        explainers,
        batches,
        ("in_domain", "other_class_mixture", "white_noise"),
        show_progress=False,
    )
    assert "SISDR_gain" not in results["in_domain"]["lmac"]
    for condition in ("other_class_mixture", "white_noise"):
        assert {"SISDR_gain", "IoU", "IoU_at_0.5"} <= set(
            results[condition]["lmac"]
        )
        assert results[condition]["all_ones"]["SISDR_gain"] == pytest.approx(
            0.0, abs=1e-3
        )
    # with the clean event known, it is the target in every condition
    with_clean, _ = compare(
        classifier,
        explainers,
        [dict(batches[0], clean=_clips(2, seed=1))],
        ("in_domain",),
        show_progress=False,
    )
    assert "SISDR_gain" in with_clean["in_domain"]["lmac"]


def test_multilabel_mixture_targets_per_class():
    wavs, partners = torch.ones(2, 4), 2 * torch.ones(2, 4)
    batch = {
        "wavs": wavs,
        "partner_wavs": partners,
        "targets": torch.tensor([[1.0, 0, 0], [0, 1, 0]]),
        "partner_targets": torch.tensor([[0.0, 1, 0], [0, 0, 1]]),
    }
    from interpretability.evaluation.comparison import mixture_target

    sources = mixture_target("other_class_mixture", batch, multilabel=True)
    assert sources.shape == (2, 3, 4)
    assert (
        sources[0, 0].eq(1).all()
        and sources[0, 1].eq(2).all()
        and sources[0, 2].eq(0).all()
    )
    assert (
        sources[1, 1].eq(1).all()
        and sources[1, 2].eq(2).all()
        and sources[1, 0].eq(0).all()
    )
    noise = mixture_target("white_noise", batch, multilabel=True)
    assert noise[0, 1].eq(0).all() and noise[0, 0].eq(1).all()
    assert mixture_target("in_domain", batch, multilabel=True) is None


def test_compare_keeps_only_the_rows_the_sanity_check_needs():
    classifier = _classifier()
    batches = [
        {"ids": ["a", "b"], "wavs": _clips(2)},
        {"ids": ["c", "d"], "wavs": _clips(2, seed=3)},
    ]
    _, kept = compare(
        classifier,
        {"ones": AllOnesExplainer()},
        batches,
        ("in_domain",),
        show_progress=False,
        keep_rows=3,
    )
    assert [len(view.decision) for view in kept] == [2, 1]
    _, none = compare(
        classifier,
        {"ones": AllOnesExplainer()},
        batches,
        ("in_domain",),
        show_progress=False,
        keep_rows=0,
    )
    assert none == []


def test_multilabel_rows_take_their_own_class_source():
    """Multi-label rows are scored against their class's clean source ([B, C, N]); a class the classifier marks
    present that the clip lacks (silent source) has no ground-truth metrics (NaN), not a perfect empty overlap."""
    classifier = _classifier(n_classes=3, multilabel=True)
    with torch.no_grad():
        classifier.head.bias.copy_(
            torch.tensor([6.0, 6.0, -6.0])
        )  # classes 0 and 1 present in every clip
    wavs = _clips(2)
    sources = torch.zeros(2, 3, 8000)
    sources[:, 0] = (
        0.6 * wavs
    )  # class 0: most of the clip; class 1 absent (silent source)
    view = ClipView(wavs, classifier, sources)
    assert view.decision.tolist() == [0, 1, 0, 1] and view.clean.shape == (
        4,
        8000,
    )
    assert (
        torch.equal(view.clean[0], sources[0, 0])
        and view.clean[1].abs().max() == 0
    )
    from interpretability.brains.interpreter import explanation_metrics

    metrics = explanation_metrics(
        classifier, view, torch.ones(4, view.n_frames, 513)
    )
    assert (
        torch.isnan(metrics["IoU"][[1, 3]]).all()
        and torch.isnan(metrics["SISDR"][[1, 3]]).all()
    )
    assert not torch.isnan(metrics["IoU"][[0, 2]]).any()
    assert (
        ClipView(wavs, classifier, wavs).clean is None
    )  # a clip-level source is not a class's own


def test_cascading_randomisation_separates_model_dependent_methods():
    classifier = _classifier()
    before = {k: v.clone() for k, v in classifier.state_dict().items()}
    assert cascade_steps(classifier) == [
        "head",
        "encoder.conv_block4",
        "encoder.conv_block3",
        "encoder.conv_block2",
        "encoder.conv_block1",
    ]
    explainers = build_explainers(
        classifier,
        {"lmac": TrainedExplainer(_decoder(classifier))},
        methods=("saliency",),
    )
    del explainers["all_ones"]
    views = [ClipView(_clips(3), classifier)]
    results = cascading_randomisation(classifier, explainers, views, steps=3)
    assert set(results["saliency"]) == {
        "rank_corr_head",
        "rank_corr_conv_block4",
        "rank_corr_conv_block3",
        "rank_corr_all",
    }
    assert results["random"]["rank_corr_all"] > 0.999
    assert results["saliency"]["rank_corr_all"] < 0.9
    # the L-MAC decoder reads the blocks, not the head: randomising the head alone cannot change its masks
    assert (
        results["lmac"]["rank_corr_head"] > 0.999
        and results["lmac"]["rank_corr_all"] < 0.999
    )
    assert all(
        torch.equal(before[k], v) for k, v in classifier.state_dict().items()
    )  # the original is untouched
    steps = [
        step
        for step, _ in randomised_classifiers(
            classifier, ["head", "encoder.conv_block4"]
        )
    ]
    assert steps == ["head", "conv_block4"]


def test_interpreter_of_another_classifier_is_refused(tmp_path):
    mine, other = _classifier(seed=0), _classifier(seed=1)
    export_classifier(
        other,
        str(tmp_path / "interpreter" / "classifier"),
        ["a", "b", "c"],
        clip_seconds=0.5,
    )
    with pytest.raises(CheckpointError, match="trained on the classifier"):
        check_same_classifier(mine, "mine/", str(tmp_path / "interpreter"))
    check_same_classifier(other, "other/", str(tmp_path / "interpreter"))


def _results():
    def row(ai, ad, ag, mm=0.3):
        return {
            "AI": ai,
            "AD": ad,
            "AG": ag,
            "FF": 0.1,
            "FidIn": 0.5,
            "SPS": 0.4,
            "COMP": 9.0,
            "MM": mm,
            "n_rows": 4,
        }

    return {
        "in_domain": {
            "saliency": row(20, 40, 10),
            "gradcam": row(50, 15, 20),
            "lmac": row(60, 12, 18),
            "all_ones": row(0, 0, 0, 1.0),
            "random": row(70, 5, 30),
        },
        "sanity": {"saliency": {"rank_corr_head": 0.5, "rank_corr_all": 0.5}},
    }


def test_margins_over_the_best_baseline_by_hand():
    table = margins(_results(), baselines=("saliency", "gradcam"))
    entry = table["in_domain"]["lmac"]
    assert (
        entry["AI"] == pytest.approx(10)
        and entry["AD"] == pytest.approx(3)
        and entry["AG"] == pytest.approx(-2)
    )
    assert entry["ahead"] == 0.0 and entry["best_baseline"] == {
        "AI": "gradcam",
        "AD": "gradcam",
        "AG": "gradcam",
    }
    assert entry["over"]["saliency"] == {"AI": 40, "AD": 28, "AG": 8}
    assert (
        entry["over"]["random"] == {"AI": -10, "AD": -7, "AG": -12}
        and "lmac" not in entry["over"]
    )
    assert "sanity" not in table and "l2i" not in table["in_domain"]


def test_tables_bold_the_best_method_but_not_controls():
    table = condition_table(_results()["in_domain"])
    lines = table.splitlines()
    assert lines[0].startswith("| method | AI ↑ | AD ↓ | AG ↑")
    lmac = next(line for line in lines if line.startswith("| lmac "))
    gradcam = next(line for line in lines if line.startswith("| gradcam "))
    random = next(line for line in lines if line.startswith("| random "))
    assert (
        "**60.0**" in lmac
        and "**12.0**" in lmac
        and "**20.0**" in gradcam
        and "**" not in random
    )
    assert "SI-SDR" not in lines[0]  # no method has it
    text = comparison_markdown(_results(), {"clips": 4})
    assert (
        "## in_domain (4 rows)" in text
        and "+ head" in text
        and "clips = 4" in text
    )


def test_all_ones_is_constant():
    rows = type("Rows", (), {"magnitude": torch.rand(2, 5, 7)})()
    assert (
        torch.equal(AllOnesExplainer().explain(rows), torch.ones(2, 5, 7))
        and AllOnesExplainer.constant
    )
    assert not math.isnan(float(RandomExplainer().explain(rows).mean()))
