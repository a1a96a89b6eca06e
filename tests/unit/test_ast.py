"""transformers' AST behind the classifier interface: kaldi front end, a tiny random AST saved to a temporary folder
and loaded back by path (the code a hub id goes through), and AND dissecting it (the and_ast.yaml set-up)."""

import json
import re

import numpy as np
import pytest
import torch

from interpretability.classifiers.ast import (
    ASTClassifier,
    ASTFrontEnd,
    build_ast_classifier,
    kaldi_mel_filterbank,
    load_ast_classifier,
)
from interpretability.errors import CheckpointError
from interpretability.spectral import magnitude_phase

SR = 16000
TINY = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    max_length=128,
    patch_size=16,
    frequency_stride=16,
    time_stride=16,
)
N_MELS = 32


def test_kaldi_mel_filterbank_triangles():
    bank = kaldi_mel_filterbank(40, 1024, SR, f_min=20.0)
    assert bank.shape == (513, 40)
    assert bool((bank >= 0).all()) and float(bank.max()) <= 1.0 + 1e-6
    assert (
        float(bank.max(dim=0).values.min()) > 0.5
    )  # every filter covers at least one bin well
    centres = bank.argmax(dim=0)
    assert bool(
        (centres[1:] >= centres[:-1]).all()
    )  # filters ordered by frequency
    assert float(bank[:1].sum()) == 0.0  # nothing below f_min = 20 Hz at bin 0
    with pytest.raises(ValueError, match="mel range"):
        kaldi_mel_filterbank(40, 1024, SR, f_min=9000.0)


def test_front_end_is_close_to_the_transformers_feature_extractor():
    from transformers import ASTFeatureExtractor

    rng = np.random.default_rng(0)
    t = np.arange(SR) / SR
    wav = (
        0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(SR)
    ).astype(np.float32)
    extractor = ASTFeatureExtractor(num_mel_bins=64, max_length=100)
    expected = extractor(wav, sampling_rate=SR, return_tensors="pt")[
        "input_values"
    ][0]  # [100, 64]
    front = ASTFrontEnd(n_mels=64, max_length=100)
    got = front(magnitude_phase(torch.from_numpy(wav)[None])[0])[0]
    assert got.shape == expected.shape
    frames = 1 + (SR - 400) // 160  # 98 kaldi frames
    difference = (got[:frames] - expected[:frames]).abs()
    # the normalised features span several units; the approximation stays well inside that
    assert (
        float(difference.mean()) < 0.1 and float(expected[:frames].std()) > 0.3
    )
    assert torch.allclose(
        got[frames:], expected[frames:], atol=1e-5
    )  # padded frames


def _save_tiny_ast(folder, classes, multilabel=False):
    from transformers import (
        ASTConfig,
        ASTFeatureExtractor,
        ASTForAudioClassification,
    )

    config = ASTConfig(
        num_mel_bins=N_MELS,
        num_labels=len(classes),
        **TINY,
        problem_type="multi_label_classification"
        if multilabel
        else "single_label_classification",
    )
    config.id2label = dict(enumerate(classes))
    config.label2id = {c: i for i, c in enumerate(classes)}
    torch.manual_seed(0)
    model = ASTForAudioClassification(config).eval()
    model.save_pretrained(folder)
    ASTFeatureExtractor(
        num_mel_bins=N_MELS, max_length=TINY["max_length"], mean=-3.0, std=4.0
    ).save_pretrained(folder)
    return model


def test_tiny_ast_saved_and_loaded_by_path_gives_the_same_logits(tmp_path):
    classes = ["pure_tone", "rising_chirp", "noise_burst"]
    model = _save_tiny_ast(str(tmp_path), classes)
    loaded = load_ast_classifier(str(tmp_path))
    assert (
        loaded.classes == classes
        and not loaded.multilabel
        and loaded.n_classes == 3
    )
    assert (
        len(loaded.block_paths()) == 2
        and loaded.interpretable_layers == loaded.block_paths()
    )
    reference = ASTClassifier(
        model,
        ASTFrontEnd(
            n_mels=N_MELS, max_length=TINY["max_length"], mean=-3.0, std=4.0
        ),
    )
    magnitude = magnitude_phase(torch.randn(2, SR))[0]
    with torch.no_grad():
        assert torch.allclose(
            loaded(magnitude), reference(magnitude), atol=1e-5
        )
        logits, hidden = loaded.forward_with_hidden(magnitude)
    assert logits.shape == (2, 3)
    (grid,) = {tuple(v.shape) for v in hidden.values()}
    assert grid[:2] == (2, 32)  # [B, hidden, t, f]
    multilabel = tmp_path / "multilabel"
    _save_tiny_ast(str(multilabel), classes, multilabel=True)
    assert load_ast_classifier(str(multilabel)).multilabel
    with pytest.raises(CheckpointError, match="cannot load an AST"):
        load_ast_classifier(str(tmp_path / "missing"))


def test_build_ast_classifier_is_seeded():
    first = build_ast_classifier(4, n_mels=N_MELS, ast_config=TINY, seed=3)
    second = build_ast_classifier(4, n_mels=N_MELS, ast_config=TINY, seed=3)
    magnitude = magnitude_phase(torch.randn(1, SR))[0]
    with torch.no_grad():
        assert torch.equal(first(magnitude), second(magnitude))
    assert first.config["ast_config"]["num_mel_bins"] == N_MELS


class HashEncoder:
    """Deterministic stand-in for a sentence encoder: hashed bag of words, L2-normalised."""

    def encode(self, texts):
        rows = torch.zeros(len(texts), 64)
        for i, text in enumerate(texts):
            for word in re.findall(r"[a-z]+", text.lower().replace("_", " ")):
                rows[i, sum(map(ord, word)) % 64] += 1
        return torch.nn.functional.normalize(rows, dim=-1)


def test_and_dissects_a_tiny_ast_loaded_by_path(tmp_path):
    """The and_ast.yaml set-up: --pretrained_classifier is a folder, loaded as a hub id would be."""
    from interpretability.data.esc50 import prepare_esc50
    from interpretability.data.synthetic import generate_dataset
    from interpretability.dissection.pipeline import run_dissection
    from interpretability.dissection.pos import TaggedToken

    class WordTagger:
        def tag(self, text):
            return [
                TaggedToken(w, w.lower(), "ADJ", False, "JJ")
                for w in re.findall(r"[A-Za-z-]+", text)
            ]

    data = tmp_path / "data"
    summary = generate_dataset(
        data,
        layout="esc50",
        clips_per_class=5,
        duration=1.0,
        n_classes=3,
        seed=1,
        show_progress=False,
    )
    model_folder = tmp_path / "ast"
    _save_tiny_ast(str(model_folder), summary["classes"])
    manifests = prepare_esc50(str(data), str(tmp_path / "save"))
    hparams = {
        "pretrained_classifier": str(model_folder),
        "architecture": "ast",
        "ast_config": None,
        "output_folder": str(tmp_path / "out"),
        "clip_seconds": 1.0,
        "probing_splits": ["train", "test"],
        "layers": None,
        "pooling": "cls",
        "top_k": 3,
        "tau": [0.6],
        "n_clusters": 3,
        "pruning_strategies": ["db", "open"],
        "random_repeats": 1,
        "neurons_per_layer": 4,
        "text_encoder": HashEncoder(),
        "pos_tagger": WordTagger(),
    }
    metrics = run_dissection(
        hparams, {"device": "cpu", "noprogressbar": True}, manifests
    )
    assert set(metrics["layers"]) == {
        "ast.layers.0",
        "ast.layers.1",
        "head",
    } or set(metrics["layers"]) == {
        "ast.encoder.layer.0",
        "ast.encoder.layer.1",
        "head",
    }
    assert metrics["layers"]["head"] == 3 and all(
        w == 32 for k, w in metrics["layers"].items() if k != "head"
    )
    assert (
        0.0
        <= metrics["last_layer_top1"]["DB"]
        <= metrics["last_layer_top5"]["DB"]
        == 1.0
    )  # 3 concepts
    with open(
        tmp_path / "out" / "neurons_head.json", encoding="utf-8"
    ) as handle:
        head = json.load(handle)
    assert [n["true_class"] for n in head["neurons"]] == summary["classes"]
    assert (
        head["pooling"] == "cls" and len(head["neurons"][0]["top_clips"]) == 3
    )
