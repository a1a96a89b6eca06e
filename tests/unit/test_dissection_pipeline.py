"""The resumable AND pipeline: stages skipped after a kill, per-neuron resume, sharding, TAB, pruning bookkeeping."""

import json
import math
import os
import re
import threading

import numpy as np
import pytest
import torch
from test_dissection_text import (
    _tiny_clap,  # the tiny random CLAP saved by path (tests/unit is on sys.path)
)

from interpretability.classifiers import build_classifier
from interpretability.dissection import pipeline as pl
from interpretability.dissection.captioners import AcousticCaptioner
from interpretability.dissection.pipeline import (
    Backends,
    Dissection,
    DissectionOptions,
    PartialRecords,
    ProbingSet,
    confidence_changes,
)
from interpretability.dissection.pos import TaggedToken
from interpretability.dissection.pruning import pruning_effect
from interpretability.dissection.stages import base as stage_base
from interpretability.dissection.summarizers import ExtractiveSummarizer
from interpretability.errors import InputError

SR = 16000
CLASSES = ["low_tone", "high_tone", "noise_burst"]
LAYERS = ["encoder.conv_block1", "encoder.conv_block2", "head"]
STAGE_FILES = [
    "probing.json",
    "activations.pt",
    "descriptions.json",
    "top_k.json",
    "closed_db.pt",
    "summaries.json",
    "closed_icl.json",
]


class HashEncoder:
    """Deterministic stand-in for a sentence encoder: hashed bag of words, L2-normalised."""

    def __init__(self):
        self.calls = 0

    def encode(self, texts):
        self.calls += 1
        rows = torch.zeros(len(texts), 64)
        for i, text in enumerate(texts):
            for word in re.findall(r"[a-z]+", text.lower().replace("_", " ")):
                rows[i, sum(map(ord, word)) % 64] += 1
        return torch.nn.functional.normalize(rows, dim=-1)


class WordTagger:
    """Every word an adjective; words after "not" negated."""

    def tag(self, text):
        words = re.findall(r"[A-Za-z-]+", text)
        return [
            TaggedToken(
                w,
                w.lower(),
                "ADJ",
                i > 0 and words[i - 1].lower() == "not",
                "JJ",
            )
            for i, w in enumerate(words)
        ]


class CountingCaptioner(AcousticCaptioner):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def describe(self, wav):
        self.calls += 1
        return super().describe(wav)


class FailingSummarizer(ExtractiveSummarizer):
    """Extractive summariser that raises on its ``fail_at``-th call (a kill in the middle of Module B)."""

    def __init__(self, fail_at=None, **kwargs):
        super().__init__(**kwargs)
        self.calls, self.fail_at = 0, fail_at

    def summarize(self, descriptions):
        self.calls += 1
        if self.fail_at is not None and self.calls >= self.fail_at:
            raise RuntimeError("killed")
        return super().summarize(descriptions)


def clips(n_per_class=4, seconds=0.5, seed=0):
    """Tones at ~300 Hz, tones at ~3 kHz and noise bursts, in light noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    ids, wavs, labels = [], [], []
    for label in range(3):
        for j in range(n_per_class):
            wav = 0.01 * rng.standard_normal(len(t))
            if label < 2:
                wav += 0.5 * np.sin(
                    2
                    * np.pi
                    * (300 if label == 0 else 3000)
                    * (1 + 0.05 * j)
                    * t
                )
            else:
                wav += 0.3 * rng.standard_normal(len(t)) * (t < seconds / 2)
            ids.append(f"{CLASSES[label]}_{j}")
            wavs.append(torch.from_numpy(wav).float())
            labels.append(label)
    return ProbingSet.from_tensors(ids, wavs, labels, CLASSES)


def tiny_model():
    torch.manual_seed(0)
    return build_classifier("compact_cnn", n_classes=3, channels=[4, 8]).eval()


def backends(captioner=None, summarizer=None, encoder=None, **kwargs):
    encoder = encoder or HashEncoder()
    return Backends(
        captioner=captioner or AcousticCaptioner(),
        text_encoder=encoder,
        summarizer=summarizer or ExtractiveSummarizer(text_encoder=encoder),
        pos_tagger=WordTagger(),
        **kwargs,
    )


def options(**kwargs):
    defaults = dict(
        layers=LAYERS,
        k=3,
        random_repeats=2,
        n_clusters=3,
        tau=[0.6, 1.0],
        progress=False,
        pruning_strategies=("db", "open"),
    )
    return DissectionOptions(**{**defaults, **kwargs})


def mtimes(folder, names):
    return {
        name: os.stat(os.path.join(folder, name)).st_mtime_ns for name in names
    }


def test_a_run_killed_after_a_stage_resumes_without_redoing_finished_stages(
    tmp_path, monkeypatch
):
    probing, folder = clips(), str(tmp_path)

    def killed(self, summaries):
        raise RuntimeError("killed in Module C")

    monkeypatch.setattr(Dissection, "open_concepts", killed)
    with pytest.raises(RuntimeError, match="Module C"):
        Dissection(tiny_model(), probing, folder, options(), backends()).run()
    monkeypatch.undo()
    assert all(os.path.isfile(os.path.join(folder, f)) for f in STAGE_FILES)
    assert not os.path.exists(os.path.join(folder, "test_metrics.json"))
    before = mtimes(folder, STAGE_FILES)

    captioner, summarizer = CountingCaptioner(), FailingSummarizer()
    model = tiny_model()
    forwards, heads = [], []
    model.encoder.register_forward_hook(lambda *args: forwards.append(1))
    model.head.register_forward_hook(lambda *args: heads.append(1))
    metrics = Dissection(
        model, probing, folder, options(), backends(captioner, summarizer)
    ).run()
    assert mtimes(folder, STAGE_FILES) == before
    assert (
        captioner.calls == 0 and summarizer.calls == 0
    )  # no clip described, no neuron summarised again
    # the only forward passes left are the pruning runs: the intact model once, and once more to keep the
    # activations before the pruned layers; then per strategy and target 1 + random_repeats runs that resume from
    # those activations (they reach the head without a whole forward)
    n_pruned_targets = sum(
        s["n_targets"] for s in metrics["pruning_by_strategy"].values()
    )
    batches = math.ceil(len(probing) / 16)
    assert n_pruned_targets > 0
    assert len(forwards) == 2 * batches
    assert len(heads) == batches * (2 + 3 * n_pruned_targets)
    for name in (
        "open_concepts.json",
        "pruning.json",
        "uninterpretable.json",
        "uninterpretable.png",
        "neurons_encoder.conv_block1.json",
        "neurons_head.json",
        "test_metrics.json",
    ):
        assert os.path.isfile(os.path.join(folder, name)), name
    assert not [f for f in os.listdir(folder) if f.endswith(".partial.jsonl")]
    assert set(metrics["last_layer_top1"]) == {"DB", "ICL", "selectivity"}
    assert set(metrics["uninterpretable"]) == set(LAYERS)
    assert set(metrics["uninterpretable_by_tau"]) == {"0.6", "1"}
    head = json.load(open(os.path.join(folder, "neurons_head.json")))
    first = head["neurons"][0]
    assert (
        first["true_class"] == CLASSES[0]
        and len(first["top_clips"]) == 3
        and len(first["bottom_clips"]) == 3
    )
    assert {
        "highly_summary",
        "lowly_summary",
        "calibrated_summary",
        "open_concepts",
    } <= set(first)
    assert [c["concept"] for c in first["closed_concepts"]["DB"]][0] in CLASSES
    assert first["closed_concepts"]["ICL"] in CLASSES
    # a third run changes nothing but the assembled files
    again = mtimes(folder, STAGE_FILES + ["pruning.json", "open_concepts.json"])
    Dissection(tiny_model(), probing, folder, options(), backends()).run()
    assert (
        mtimes(folder, STAGE_FILES + ["pruning.json", "open_concepts.json"])
        == again
    )


def test_partial_summaries_resume_per_neuron_and_drop_a_truncated_line(
    tmp_path,
):
    probing, folder = clips(), str(tmp_path)
    encoder = HashEncoder()
    with pytest.raises(RuntimeError, match="killed"):
        # 2 summaries per neuron: the 7th call fails, after 3 neurons are done
        Dissection(
            tiny_model(),
            probing,
            folder,
            options(),
            backends(
                summarizer=FailingSummarizer(fail_at=7, text_encoder=encoder),
                encoder=encoder,
            ),
        ).run()
    partial = os.path.join(folder, "summaries.partial.jsonl")
    assert not os.path.exists(os.path.join(folder, "summaries.json"))
    with open(partial, encoding="utf-8") as handle:
        done = [json.loads(line) for line in handle]
    assert [(r["layer"], r["neuron"]) for r in done] == [
        ("encoder.conv_block1", n) for n in range(3)
    ]
    with open(partial, "a", encoding="utf-8") as handle:
        handle.write(
            '{"layer": "encoder.conv_block1", "neuron": 3, "highly_sum'
        )  # killed mid-write

    summarizer = FailingSummarizer(text_encoder=encoder)
    Dissection(
        tiny_model(),
        probing,
        folder,
        options(),
        backends(summarizer=summarizer, encoder=encoder),
    ).run()
    total = 4 + 8 + 3
    assert summarizer.calls == 2 * (total - 3)
    summaries = json.load(open(os.path.join(folder, "summaries.json")))
    assert {layer: len(n) for layer, n in summaries["layers"].items()} == {
        "encoder.conv_block1": 4,
        "encoder.conv_block2": 8,
        "head": 3,
    }
    for record in done:
        kept = summaries["layers"][record["layer"]][str(record["neuron"])]
        assert kept["calibrated_summary"] == record["calibrated_summary"]
    assert summaries["threshold"] == pytest.approx(
        0.97
    )  # tied to the extractive summariser
    assert not os.path.exists(partial)


def test_partial_records_skip_broken_lines(tmp_path):
    path = str(tmp_path / "x.partial.jsonl")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(
            '{"id": "a", "v": 1}\nnot json\n{"v": 2}\n{"id": "b", "v": 3}\n{"id": "c"'
        )
    records = PartialRecords(path, ("id",))
    assert set(records.records) == {("a",), ("b",)} and ("a",) in records
    records.append({"id": "c", "v": 4})
    records.close()
    assert [
        json.loads(line)["id"] for line in open(path, encoding="utf-8")
    ] == ["a", "b", "c"]


def test_neurons_per_layer_limits_modules_b_c_and_icl_but_not_the_output_layer(
    tmp_path,
):
    metrics = Dissection(
        tiny_model(),
        clips(),
        str(tmp_path),
        options(neurons_per_layer=2, skip=("pruning",)),
        backends(),
    ).run()
    summaries = json.load(open(tmp_path / "summaries.json"))["layers"]
    assert {layer: sorted(map(int, n)) for layer, n in summaries.items()} == {
        "encoder.conv_block1": [0, 1],
        "encoder.conv_block2": [0, 1],
        "head": [0, 1, 2],
    }
    assert "pruning" not in metrics and not (tmp_path / "pruning.json").exists()
    block2 = json.load(open(tmp_path / "neurons_encoder.conv_block2.json"))[
        "neurons"
    ]
    assert (
        "calibrated_summary" in block2[1]
        and "calibrated_summary" not in block2[2]
    )


def test_another_probing_set_in_the_same_folder_is_refused(tmp_path):
    Dissection(
        tiny_model(),
        clips(),
        str(tmp_path),
        options(skip=("pruning", "analysis")),
        backends(),
    ).run()
    with pytest.raises(InputError, match="ids"):
        Dissection(
            tiny_model(),
            clips(n_per_class=3),
            str(tmp_path),
            options(),
            backends(),
        ).run()
    with pytest.raises(InputError, match="pooling"):
        Dissection(
            tiny_model(),
            clips(),
            str(tmp_path),
            options(pooling="max"),
            backends(),
        ).run()


def test_sharded_activations_and_descriptions_merge_to_the_single_process_result(
    tmp_path, monkeypatch
):
    probing = clips()
    single = Dissection(
        tiny_model(), probing, str(tmp_path / "single"), options(), backends()
    )
    single.check_probing()
    reference = single.activations()

    barrier = threading.Barrier(2, timeout=60)
    monkeypatch.setattr(stage_base, "_barrier", barrier.wait)
    folder, results, errors = str(tmp_path / "sharded"), {}, []
    models = [
        tiny_model(),
        tiny_model(),
    ]  # built here: threads would share the seeded global RNG

    def rank(r):
        try:
            d = Dissection(models[r], probing, folder, options(), backends())
            d.rank, d.world_size = r, 2
            d.check_probing()
            results[r] = (d.activations(), d.descriptions())
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)
            barrier.abort()

    threads = [threading.Thread(target=rank, args=(r,)) for r in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    merged, descriptions = results[0]
    assert merged.ids == probing.ids and results[1][0].ids == probing.ids
    for layer in LAYERS:
        assert torch.allclose(merged[layer], reference[layer], atol=1e-5)
    assert descriptions == results[1][1] and len(descriptions) == len(probing)
    assert sorted(os.listdir(folder)) == [
        "activations.pt",
        "descriptions.json",
        "probing.json",
    ]


def test_tab_with_a_tiny_random_clap_and_pruning_by_tab(tmp_path):
    from interpretability.dissection.encoders import ClapEncoder

    _tiny_clap(str(tmp_path / "clap"))
    factory = lambda: ClapEncoder(str(tmp_path / "clap"), device="cpu")  # noqa: E731 - built on first use
    folder = str(tmp_path / "run")
    metrics = Dissection(
        tiny_model(),
        clips(),
        folder,
        options(
            pruning_strategies=("tab", "db"), tau=0.6, tab_options={"top_k": 5}
        ),
        backends(audio_text_encoder=factory),
    ).run()
    scores = torch.load(
        os.path.join(folder, "closed_tab.pt"), weights_only=True
    )["scores"]
    assert {layer: tuple(s.shape) for layer, s in scores.items()} == {
        "encoder.conv_block1": (4, 3),
        "encoder.conv_block2": (8, 3),
        "head": (3, 3),
    }
    embeddings = torch.load(
        os.path.join(folder, "clap_embeddings.pt"), weights_only=True
    )
    assert (
        embeddings["audio"].shape == (12, 8)
        and embeddings["ids"] == clips().ids
    )
    assert (
        {"DB", "TAB", "ICL"}
        == set(metrics["last_layer_top5"])
        == set(metrics["last_layer_top1"]) - {"selectivity"}
    )
    assert (
        metrics["last_layer_top5"]["TAB"] == 1.0
    )  # 3 concepts: the true one is always among the top 5
    assert (
        set(metrics["pruning_by_strategy"]) == {"tab", "db"}
        and metrics["pruning"]["strategy"] == "tab"
    )
    head = json.load(open(os.path.join(folder, "neurons_head.json")))["neurons"]
    assert len(head[0]["closed_concepts"]["TAB"]) == 3 and isinstance(
        head[0]["uninterpretable"]["0.6"], bool
    )


def test_confidence_changes_match_pruning_effect_and_a_hand_computed_case():
    torch.manual_seed(0)
    model = tiny_model()
    probing = clips()
    mags = torch.stack(
        [pl.magnitude_phase(probing.wav(i))[0] for i in range(len(probing))]
    )
    batches = [
        (probing.ids[s : s + 5], mags[s : s + 5])
        for s in range(0, len(probing), 5)
    ]
    ablation = {"encoder.conv_block2": [1, 4, 6]}
    expected = pruning_effect(
        model, None, batches, probing.labels, 2, ablation, progress=False
    )
    d = Dissection(
        model, probing, "/tmp/unused-and-folder", options(), backends()
    )
    got = confidence_changes(
        d._logits(range(len(probing))),
        d._logits(range(len(probing)), ablation),
        torch.tensor(probing.labels),
        2,
        n_neurons=3,
    )
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-6), key
    # softmax([0, 0]) = 0.5 -> softmax([-ln 3, 0]) = 0.25 for class 0; class 1 rises from 0.5 to 0.75
    intact = torch.zeros(2, 2)
    ablated = torch.tensor([[-math.log(3), 0.0], [-math.log(3), 0.0]])
    hand = confidence_changes(intact, ablated, torch.tensor([0, 1]), target=0)
    assert hand["delta_A"] == pytest.approx(-0.25) and hand[
        "delta_R"
    ] == pytest.approx(0.25)
    assert (
        hand["delta_A_logit"] == pytest.approx(-math.log(3))
        and hand["delta_R_logit"] == 0.0
    )
    multi = confidence_changes(
        intact, ablated, torch.tensor([0, 1]), target=0, multilabel=True
    )
    assert (
        multi["delta_A"] == pytest.approx(0.25 - 0.5)
        and multi["delta_R"] == 0.0
    )


def test_multilabel_targets_and_pruning_summary():
    probing = ProbingSet.from_tensors(
        ["a", "b", "c", "d"],
        [torch.zeros(800)] * 4,
        [[1, 1, 0], [0, 1, 0], [0, 0, 0], [0, 0, 1]],
        CLASSES,
        multilabel=True,
    )
    d = Dissection(
        tiny_model(), probing, "/tmp/unused-and-folder", options(), backends()
    )
    target, labels = d._target_labels("high tone")
    assert target == 1 and labels == {
        "a": 1,
        "b": 1,
        "d": 2,
    }  # "c" has no class present
    assert d._target_labels("dog") == (None, {})
    results = {
        "x": {
            "n_neurons": 4,
            "effect": {
                "delta_A": -0.4,
                "delta_R": -0.1,
                "delta_A_logit": -2.0,
                "delta_R_logit": -0.5,
            },
            "random": {
                "delta_A": -0.1,
                "delta_R": -0.1,
                "delta_A_logit": -0.2,
                "delta_R_logit": -0.3,
            },
        },
        "y": {"n_neurons": 0, "effect": None, "random": None},
    }
    summary, per_target = Dissection.pruning_summary(results)
    assert summary["n_targets"] == 1 and summary["n_neurons"] == 4
    assert summary["selectivity"] == pytest.approx(0.3) and summary[
        "vs_random"
    ] == pytest.approx(0.3)
    assert summary["vs_random_logit"] == pytest.approx(1.8) and per_target[
        "y"
    ] == {"n_neurons": 0}


def test_backends_are_built_on_first_use_with_the_shared_text_encoder():
    built = []

    class Summ(ExtractiveSummarizer):
        def __init__(self, text_encoder=None):
            built.append(text_encoder)
            super().__init__(text_encoder=text_encoder)

    encoder = HashEncoder()
    b = Backends(summarizer=Summ, text_encoder=encoder)
    assert built == []
    assert isinstance(b.summarizer, Summ) and built == [b.text_encoder]
    b.text_encoder.encode(["a b", "a b", "c"])
    b.text_encoder.encode(["a b"])
    assert encoder.calls == 1  # memoised per text
    assert not Backends().has_audio_text_encoder
