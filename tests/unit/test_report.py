"""The HTML report: metric definitions, generic tables, clip choice, listening cards with tiny models, the report of
a demo-like folder and of a single run, the explain page, bad input.

:func:`build_results` writes a small results folder laid out as ``demo.py`` writes it (tiny untrained models
exported with the project's export functions, synthesised metric files); the browser test reuses it.
"""

import json
import os
import re
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch

from interpretability.brains.training import layer_channels
from interpretability.classifiers import build_classifier
from interpretability.classifiers.io import export_classifier
from interpretability.data.esc50 import prepare_esc50
from interpretability.data.synthetic import generate_dataset
from interpretability.dissection.analysis import plot_uninterpretable
from interpretability.errors import DataError, InputError
from interpretability.inference import Explainer, export_interpreter
from interpretability.interpreters.gradient import BASELINES
from interpretability.interpreters.l2i import L2IInterpreter, L2IPsi, L2ITheta
from interpretability.interpreters.lmac import LMACDecoder
from interpretability.report import (
    definitions,
    html as H,
    write_explain_page,
    write_report,
)
from interpretability.report.__main__ import main as report_main
from interpretability.report.listening import ListeningOptions, choose_clips
from interpretability.spectral import listenable, magnitude_phase

CLASSES = ["pure_tone", "rising_chirp", "falling_chirp"]
CLIP_SECONDS = 1.0
FAST = ListeningOptions(
    ig_steps=2, smoothgrad_samples=2, shap_samples=2, ood_clips=1
)


def _write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle)


def _metrics(seed, extra=None):
    rng = np.random.default_rng(seed)
    metrics = {
        "AI": float(rng.uniform(0, 90)),
        "AD": float(rng.uniform(0, 50)),
        "AG": float(rng.uniform(0, 50)),
        "FF": 0.4,
        "FidIn": 0.9,
        "SPS": 0.8,
        "COMP": 9.8,
        "MM": 0.05,
        "SISDR_gain": float(rng.normal(3, 2)),
        "IoU": 0.2,
        "IoU_at_0.5": 0.1,
        "n_rows": 6,
    }
    metrics.update(extra or {})
    return metrics


def build_results(root, models=True):
    """A demo-like results folder under ``root``: the synthetic data (3 classes, 1 s clips, 2 test clips per class),
    ``classifier/`` (an untrained tiny CNN exported, test manifest), ``lmac/`` and ``l2i/`` (tiny interpreters),
    ``nmf/``, ``comparison/`` and ``and/`` (synthesised result files). Returns ``root``."""
    root = str(root)
    data = os.path.join(root, "synthetic")
    generate_dataset(
        data,
        layout="esc50",
        clips_per_class=10,
        duration=CLIP_SECONDS,
        n_classes=len(CLASSES),
        seed=0,
        show_progress=False,
    )
    save = os.path.join(root, "classifier", "save")
    prepare_esc50(data, save)
    torch.manual_seed(0)
    classifier = build_classifier(
        "compact_cnn", n_classes=len(CLASSES), channels=[8, 8, 16, 16]
    ).eval()
    export = os.path.join(root, "classifier", "classifier")
    if models:
        export_classifier(
            classifier, export, CLASSES, clip_seconds=CLIP_SECONDS
        )
    _write(
        os.path.join(root, "classifier", "test_metrics.json"),
        {
            "loss": 1.1,
            "acc": 0.5,
            "n_clips": 6,
            "params": 12345,
            "mean_confidence": 0.4,
            "share_above_0.99": 0.0,
        },
    )
    channels = layer_channels(classifier, CLIP_SECONDS)
    for name, method in (("lmac", "lmac"), ("l2i", "l2i")):
        run = os.path.join(root, name)
        if models:
            if method == "lmac":
                decoder = LMACDecoder(
                    channels, width=16, min_width=8, head_channels=4
                )
            else:
                generator = torch.Generator().manual_seed(0)
                dictionary = torch.nn.functional.normalize(
                    torch.rand(513, 6, generator=generator), dim=0
                )
                decoder = L2IInterpreter(
                    L2IPsi(channels, 6, width=8),
                    L2ITheta(6, len(CLASSES), attention_dim=4),
                    dictionary,
                    tau=0.0,
                )
            export_interpreter(
                os.path.join(run, "interpreter"),
                decoder,
                decoder.config,
                export,
                method=method,
            )
        extra = (
            {
                "fidelity_top1": 0.9,
                "FF_median_random": 0.0,
                "removed_mask_mean": 0.3,
            }
            if method == "l2i"
            else {}
        )
        _write(
            os.path.join(run, "test_metrics.json"),
            _metrics(len(name), dict(extra, params=999, n_clips=6)),
        )
        shutil.copytree(save, os.path.join(run, "save"), dirs_exist_ok=True)
    _write(
        os.path.join(root, "nmf", "test_metrics.json"),
        {
            "relative_error": 0.3,
            "relative_error_initial": 0.4,
            "n_components": 6,
        },
    )
    methods = [*BASELINES, "lmac", "l2i", "all_ones", "random"]
    comparison = {
        c: {m: _metrics(i) for i, m in enumerate(methods)}
        for c in ("in_domain", "other_class_mixture", "white_noise")
    }
    comparison["sanity"] = {
        m: {
            "rank_corr_head": 0.9,
            "rank_corr_conv_block4": 0.5 - 0.05 * i,
            "rank_corr_all": 0.5 - 0.05 * i,
        }
        for i, m in enumerate(methods[:-2])
    }
    comparison["sanity_retrained"] = {
        "lmac": {"model_randomisation": 0.3, "data_randomisation": 0.2}
    }
    _write(os.path.join(root, "comparison", "comparison.json"), comparison)
    _write(
        os.path.join(root, "comparison", "margins.json"),
        {
            "in_domain": {
                "lmac": {
                    "AI": 5.0,
                    "AD": 1.0,
                    "AG": 2.0,
                    "ahead": 1.0,
                    "best_baseline": {
                        "AI": "gradcam",
                        "AD": "gradcam",
                        "AG": "shap",
                    },
                }
            }
        },
    )
    build_dissection(os.path.join(root, "and"), save)
    return root


def build_dissection(folder, save):
    """AND output files as the pipeline writes them, for the test clips of ``save/test.json``."""
    with open(os.path.join(save, "test.json"), encoding="utf-8") as handle:
        ids = sorted(json.load(handle))
    shutil.copytree(save, os.path.join(folder, "save"), dirs_exist_ok=True)

    def neuron(index, true_class=None):
        clips = [
            {
                "id": ids[(index + j) % len(ids)],
                "activation": 1.0 - 0.1 * j,
                "description": f"A <tone> {j}: it is loud.",
            }
            for j in range(5)
        ]
        entry = {
            "id": index,
            "top_clips": clips,
            "bottom_clips": clips[::-1],
            "highly_summary": "Most clips are loud.",
            "lowly_summary": "Most clips are quiet.",
            "calibrated_summary": f"Most clips are tonal ({index}).",
            "removed": [],
            "open_concepts": {"tonal": 1},
            "closed_concepts": {
                "DB": [
                    {"concept": c, "score": 0.1 * (index + 1) - 0.01 * k}
                    for k, c in enumerate(CLASSES)
                ],
                "ICL": CLASSES[index % 3],
            },
            "uninterpretable": {"0.6": index % 2 == 0},
        }
        if true_class is not None:
            entry["true_class"] = true_class
        return entry

    layers = {
        "encoder.conv_block4": [neuron(i) for i in range(8)],
        "head": [neuron(i, CLASSES[i]) for i in range(len(CLASSES))],
    }
    for layer, neurons in layers.items():
        _write(
            os.path.join(folder, f"neurons_{layer}.json"),
            {
                "layer": layer,
                "pooling": "mean",
                "k": 5,
                "concepts": CLASSES,
                "neurons": neurons,
            },
        )
    _write(
        os.path.join(folder, "probing.json"),
        {"ids": ids, "layers": list(layers)},
    )
    shares = {
        "0.6": {"encoder.conv_block4": 0.5, "head": 0.33},
        "0.8": {"encoder.conv_block4": 0.75, "head": 0.66},
    }
    plot_uninterpretable(
        {f"tau = {t}": s for t, s in shares.items()},
        os.path.join(folder, "uninterpretable.png"),
    )
    pruning = {
        "strategy": "db",
        "delta_A": -0.4,
        "delta_A_random": 0.002,
        "delta_R": -0.02,
        "delta_R_random": -0.03,
        "selectivity": 0.38,
        "n_neurons": 4.0,
        "n_targets": 3,
        "heldout": {"delta_A": -0.3},
    }
    _write(
        os.path.join(folder, "test_metrics.json"),
        {
            "n_clips": len(ids),
            "layers": {"encoder.conv_block4": 8, "head": 3},
            "last_layer_top1": {"DB": 0.9, "ICL": 0.8, "selectivity": 0.5},
            "last_layer_top5": {"DB": 1.0, "ICL": 0.8},
            "label_based": 1.0,
            "pruning": pruning,
            "pruning_by_strategy": {"db": pruning},
            "pruning_per_target": {
                c: {"n_neurons": 4, "delta_A": -0.4} for c in CLASSES
            },
            "uninterpretable": shares["0.6"],
            "uninterpretable_by_tau": shares,
        },
    )


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tiny models: one thread (two threads on two busy cores make these small convolutions ten times slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory):
    return build_results(tmp_path_factory.mktemp("results"))


@pytest.fixture(scope="module")
def report(results_dir, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("report"))
    return write_report(results_dir, out, listening_options=FAST)


def _sources(page):
    with open(page, encoding="utf-8") as handle:
        text = handle.read()
    return (
        text,
        re.findall(r'<audio[^>]* src="([^"]+)"', text),
        re.findall(r'<img[^>]* src="([^"]+)"', text),
    )


# ---- definitions and tables ----------------------------------------------------------------------------
def test_definitions_of_known_and_derived_names():
    for key in (
        "AI",
        "AD",
        "AG",
        "FF",
        "FidIn",
        "SPS",
        "COMP",
        "MM",
        "SISDR_gain",
        "IoU",
    ):
        assert definitions.definition(key), key
    assert (
        definitions.direction("AD") == -1
        and definitions.direction("AI") == 1
        and definitions.direction("MM") == 0
    )
    assert definitions.header(
        "IoU_at_0.5"
    ) == "IoU @ 0.5" and "thresholded at 0.5" in definitions.definition(
        "IoU_at_0.5"
    )
    assert (
        "random control" in definitions.definition("FF_median_random").lower()
    )
    assert definitions.header("fidelity_top3") == "fidelity top-3"
    assert definitions.direction("rank_corr_conv_block4") == -1
    assert "selectivity" in definitions.header("last_layer_top1.selectivity")
    assert definitions.definition("a_new_key_nobody_knows") is None


def test_metric_table_takes_any_keys_marks_the_best_and_escapes():
    used = set()
    table = H.metric_table(
        [
            ("<b>x</b>", {"AI": 10.0, "AD": 5.0, "brand_new": 1.0}),
            ("y", {"AI": 20.0, "AD": 2.0}),
            ("(random)", {"AI": 90.0, "AD": 0.0}),
        ],
        used=used,
    )
    assert "&lt;b&gt;x&lt;/b&gt;" in table and "<b>x</b>" not in table
    assert (
        'class="best">20.0<' in table and 'class="best">2.0<' in table
    )  # controls are not marked
    assert (
        "brand_new" in table and table.count("<td>–</td>") == 2
    )  # missing values shown as –
    assert 'href="#def-AI"' in table and used == {"AI", "AD", "brand_new"}


def test_clips_are_chosen_by_class_not_by_file_order():
    manifest = {
        f"5-{i:03d}-A-{c}": {"label_id": c}
        for c in range(3)
        for i in range(c * 10, c * 10 + 8)
    }
    chosen = choose_clips(manifest, 3, 2, seed=0)
    assert [int(clip[-1]) for clip in chosen] == [0, 0, 1, 1, 2, 2]
    assert chosen == choose_clips(
        manifest, 3, 2, seed=0
    ) and chosen != choose_clips(manifest, 3, 2, seed=1)
    assert (
        chosen[:2] != sorted(manifest)[:2]
        or chosen[2:4] != sorted(manifest)[8:10]
    )


# ---- the report of a demo-like folder -------------------------------------------------------------------
def test_report_pages_reference_existing_files_and_every_section(report):
    text, audios, images = _sources(report)
    out = os.path.dirname(report)
    assert audios and images
    for src in audios + images:
        assert not src.startswith(("/", "http")) and os.path.isfile(
            os.path.join(out, src)
        ), src
    for section in (
        "headline",
        "listening",
        "ood",
        "l2i-components",
        "sanity",
        "and",
        "definitions",
    ):
        assert f'<section id="{section}">' in text, section
    for table in (
        "table-classifier",
        "table-interpreters",
        "table-headline",
        "table-sanity",
        "table-sanity-retrained",
        "table-and-last-layer",
        "table-and-pruning",
        "table-and-uninterpretable",
    ):
        assert f'id="{table}"' in text, table
    # every header link has its definition on the page; new keys appear without one
    for anchor in set(re.findall(r'href="#(def-[^"]+)"', text)):
        assert f'id="{anchor}"' in text, anchor
    for key in (
        "mean_confidence",
        "share_above_0.99",
        "IoU_at_0.5",
        "removed_mask_mean",
        "model_randomisation",
    ):
        assert key in text or definitions.header(key) in text, key
    assert (
        "<script" not in text
        and "http://" not in text
        and "https://" not in text
    )
    umask = os.umask(0)
    os.umask(umask)
    for path in (
        report,
        os.path.join(out, images[0]),
        os.path.join(out, audios[0]),
    ):  # not mkstemp's 0600
        assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask, path


def test_listening_cards_cover_every_class_and_method_with_the_real_explanation(
    report, results_dir
):
    out = os.path.dirname(report)
    text, audios, _ = _sources(report)
    with open(
        os.path.join(results_dir, "classifier", "save", "test.json"),
        encoding="utf-8",
    ) as handle:
        manifest = json.load(handle)
    cards = re.findall(r'<div class="card" id="card-([^"]+)">', text)
    in_domain = [c for c in cards if not c.endswith(("_mix", "_noise"))]
    assert sorted(int(c[-1]) for c in in_domain) == [
        0,
        0,
        1,
        1,
        2,
        2,
    ]  # two per class
    assert any(c.endswith("_mix") for c in cards) and any(
        c.endswith("_noise") for c in cards
    )
    methods = [*BASELINES, "lmac", "l2i", "random"]
    for card in cards:
        for what in ("input", "clean", *methods):
            assert f"audio/{card}_{what}.wav" in audios, (card, what)
    assert not any("_all_ones.wav" in a for a in audios)
    clip = in_domain[0]
    info = sf.info(os.path.join(out, "audio", f"{clip}_lmac.wav"))
    assert info.samplerate == 16000 and info.frames == int(CLIP_SECONDS * 16000)
    # the L-MAC player plays ISTFT(M|X|, phase) of the decoder's mask on that clip
    explainer = Explainer.from_hparams(os.path.join(results_dir, "lmac"))
    wav, _ = sf.read(manifest[clip]["wav"], dtype="float32")
    expected = explainer.explain_batch(torch.from_numpy(wav).unsqueeze(0))[
        "explanation"
    ][0].numpy()
    heard, _ = sf.read(
        os.path.join(out, "audio", f"{clip}_lmac.wav"), dtype="float32"
    )
    assert np.abs(heard - expected).max() < 2e-4
    # a baseline's player is its own mask applied to the input, not the input
    saliency, _ = sf.read(
        os.path.join(out, "audio", f"{clip}_saliency.wav"), dtype="float32"
    )
    heard_input, _ = sf.read(
        os.path.join(out, "audio", f"{clip}_input.wav"), dtype="float32"
    )
    assert (
        np.abs(saliency - heard_input).max() > 1e-3
        and np.abs(saliency).max() < np.abs(heard_input).max()
    )
    # SI-SDR against the clean event is on the cards, and L2I components have players
    assert re.search(r"input SI-SDR -?\d+\.\d dB", text)
    assert re.search(r'audio/[^"]+_l2i_component\d+\.wav', text)


def test_neuron_cards_have_players_of_their_top_clips(report):
    text, audios, images = _sources(report)
    assert (
        "head #0" in text and "encoder.conv_block4 #7" in text
    )  # highest DB score of the hidden layer first
    assert (
        "encoder.conv_block4 #0" not in text
    )  # 6 of 8 hidden neurons, by score
    assert (
        "A &lt;tone&gt; 0: it is loud." in text
        and "Most clips are tonal (0)." in text
    )
    assert sum(a.startswith("audio/clips/") for a in audios) == 9 * 3
    assert (
        "img/and_uninterpretable.png" in images and "img/sanity.png" in images
    )
    assert "random neurons (control)" in text


def test_single_recipe_folder_and_missing_parts(results_dir, tmp_path):
    page = write_report(
        os.path.join(results_dir, "lmac"),
        str(tmp_path / "single"),
        listening_options=FAST,
    )
    text, audios, _ = _sources(page)
    assert (
        "L-MAC" in text and 'id="listening"' in text and 'id="and"' not in text
    )
    assert any(a.endswith("_lmac.wav") for a in audios) and not any(
        a.endswith("_l2i.wav") for a in audios
    )
    # only the comparison: tables and the sanity curve, no cards
    only = tmp_path / "only"
    shutil.copytree(
        os.path.join(results_dir, "comparison"), only / "comparison"
    )
    text, audios, _ = _sources(write_report(str(only)))
    assert (
        os.path.isfile(only / "report" / "index.html")
        and not audios
        and 'id="table-headline"' in text
    )
    # an empty folder still gives a page saying so
    (tmp_path / "empty").mkdir()
    assert (
        "No results found" in _sources(write_report(str(tmp_path / "empty")))[0]
    )


def test_a_classifier_trained_on_shuffled_labels_is_not_taken_for_the_explained_one(
    results_dir, tmp_path
):
    from interpretability.report.collect import discover

    root = tmp_path / "runs"
    shutil.copytree(results_dir, root)
    # sorted after "classifier": discovered last, it would replace the explained classifier
    shuffled = root / "classifier_shuffled"
    shutil.copytree(root / "classifier", shuffled)
    (shuffled / "save" / "train_shuffled_labels.json").write_text("{}")
    (shuffled / "test_metrics.json").write_text(
        json.dumps({"acc": 0.1, "loss": 2.3})
    )
    results = discover(str(root))
    assert results.classifier_dir == str(root / "classifier" / "classifier")
    assert results.metrics["classifier"]["acc"] != 0.1
    assert results.parts["shuffled-label classifier"] == str(shuffled)
    assert all(not path.startswith(str(shuffled)) for path in results.manifests)


def test_bad_input_is_named(tmp_path, capsys):
    with pytest.raises(InputError, match="no-such: no such results folder"):
        write_report(str(tmp_path / "no-such"))
    broken = tmp_path / "broken" / "classifier"
    broken.mkdir(parents=True)
    (broken / "test_metrics.json").write_text('{"acc": 0.5,')
    with pytest.raises(
        DataError, match=r"test_metrics.json: not valid JSON \(line 1"
    ):
        write_report(str(tmp_path / "broken"))
    assert report_main([str(tmp_path / "broken"), "--no_listening"]) == 2
    assert "test_metrics.json: not valid JSON" in capsys.readouterr().err
    (broken / "test_metrics.json").write_text('{"acc": 0.5}')
    assert report_main([str(tmp_path / "broken"), "--no_listening"]) == 0
    assert capsys.readouterr().out.strip() == str(
        tmp_path / "broken" / "report" / "index.html"
    )


# ---- the explain page -------------------------------------------------------------------------------------
def test_explain_page(tmp_path):
    torch.manual_seed(0)
    wav = 0.1 * torch.randn(24000)
    magnitude, phase = magnitude_phase(wav)
    mask = torch.rand_like(magnitude)
    result = {
        "wavs": wav,
        "explanation": listenable(magnitude, phase, mask, 24000),
        "mask": mask,
        "magnitude": magnitude,
        "label": "dog <bark>",
        "probability": 0.87,
        "probs": torch.tensor([0.87, 0.13]),
        "decision_track": [
            (0.0, 1.0, "dog <bark>", 0.9),
            (1.0, 1.5, "rain", 0.6),
        ],
        "path": "/data/my dog.wav",
    }
    out = tmp_path / "run" / "explained"
    page = write_explain_page(
        str(out),
        {"my dog": result},
        interpreter="results/lmac",
        classes=["dog <bark>", "rain"],
    )
    text, audios, images = _sources(page)
    assert audios == [
        "my%20dog_input.wav",
        "my%20dog_explanation.wav",
    ] and images == ["my%20dog.png"]
    for src in (
        audios + images
    ):  # the names Explainer.save writes, quoted in the page
        assert (out / src.replace("%20", " ")).is_file()
    assert (
        "dog &lt;bark&gt;" in text
        and "<bark>" not in text
        and "(p = 0.87)" in text
    )
    assert "top classes: dog &lt;bark&gt; 0.87, rain 0.13" in text
    assert (
        text.count("<tr><td>") == 2 and "<td>1.00</td><td>1.50</td>" in text
    )  # the decision track
    assert sf.info(str(out / "my dog_explanation.wav")).frames == 24000
    # the report of the folder holding explained/ links to the page
    assert (
        '<a href="../explained/index.html">Explain a file</a>'
        in _sources(write_report(str(tmp_path / "run")))[0]
    )
    # with the files Explainer.save wrote, the page only refers to them; without them it says which is missing
    os.remove(page)
    write_explain_page(
        str(out), [dict(result, path="/x/my dog.wav")], write_files=False
    )
    assert _sources(page)[1] == audios
    with pytest.raises(InputError, match="other_input.wav: not found"):
        write_explain_page(str(out), {"other": result}, write_files=False)
    with pytest.raises(InputError):
        write_explain_page(str(tmp_path / "none"), [])
