"""Module A: top-K clips, DB, TAB similarity functions (hand-computed), ICL, last-layer accuracy."""

import logging
import math

import pytest
import torch

from interpretability.dissection.concepts import (
    cos_cubed,
    db_scores,
    description_based_scores,
    icl_concepts,
    last_layer_accuracy,
    rank_concepts,
    soft_wpmi,
    tab_scores,
    top_descriptions,
    top_k_indices,
    wpmi,
)
from interpretability.dissection.encoders import SentenceEncoder

# 3 clips x 2 neurons, 3 clips x 2 concepts (raw similarities, not probabilities)
A = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0]])
S = torch.tensor([[0.0, 2.0], [2.0, 0.0], [0.0, 2.0]])


def test_top_k_highly_and_lowly_activated_clips():
    acts = torch.tensor(
        [[0.1, 5.0], [0.9, 1.0], [0.5, 3.0], [0.7, 3.0], [0.2, 0.0]]
    )
    assert top_k_indices(acts, 3).tolist() == [
        [1, 3, 2],
        [0, 2, 3],
    ]  # tie 3.0 -> lower clip index first
    assert top_k_indices(acts, 2, largest=False).tolist() == [[0, 4], [4, 1]]
    assert top_descriptions(
        ["a", "b", "c", "d", "e"], top_k_indices(acts, 2)
    ) == [["b", "d"], ["a", "c"]]
    with pytest.raises(ValueError):
        top_k_indices(acts, 6)


def test_cos_cubed_matches_hand_computation():
    # neuron 0: [1,0,2] - 1 = [0,-1,1] -> cubed [0,-1,1] / sqrt 2
    # neuron 1: [0,1,0] - 1/3 -> cubed ~ [-1,8,-1] / sqrt 66
    # concept 0: [0,2,0] - 2/3 -> cubed ~ [-1,8,-1] / sqrt 66; concept 1: [2,0,2] - 4/3 -> cubed ~ [1,-8,1] / sqrt 66
    expected = torch.tensor(
        [[-9 / math.sqrt(132), 9 / math.sqrt(132)], [1.0, -1.0]]
    )
    assert torch.allclose(cos_cubed(A, S), expected, atol=1e-5)


def _softmax_rows(a):
    e0, e1 = math.exp(a * 0.0), math.exp(a * 2.0)
    low, high = e0 / (e0 + e1), e1 / (e0 + e1)
    return {
        0: (low, high),
        1: (high, low),
        2: (low, high),
    }  # P[clip] over (concept 0, concept 1)


def test_wpmi_matches_hand_computation():
    P = _softmax_rows(0.5)
    # top-2 clips: neuron 0 -> clips 2, 0; neuron 1 -> clip 1, then clip 0 (tie with clip 2, lower index)
    log_given = [
        [math.log(P[2][c]) + math.log(P[0][c]) for c in (0, 1)],
        [math.log(P[1][c]) + math.log(P[0][c]) for c in (0, 1)],
    ]
    log_prior = [
        math.log((math.exp(log_given[0][c]) + math.exp(log_given[1][c])) / 2)
        for c in (0, 1)
    ]
    lam = 0.6
    expected = torch.tensor(
        [[log_given[n][c] - lam * log_prior[c] for c in (0, 1)] for n in (0, 1)]
    )
    assert torch.allclose(
        wpmi(A, S, top_k=2, a=0.5, lam=lam, min_prob=0.0), expected, atol=1e-5
    )


def test_soft_wpmi_matches_hand_computation():
    P = _softmax_rows(0.5)
    w = (
        1.0,
        1.0 - 1 / 2 * (1.0 - 0.5),
    )  # p_j = p_start - j/k (p_start - p_end), k = 2
    top = {0: (2, 0), 1: (1, 0)}
    log_given = [
        [
            sum(math.log(1 + w[j] * (P[top[n][j]][c] - 1)) for j in (0, 1))
            for c in (0, 1)
        ]
        for n in (0, 1)
    ]
    log_prior = [
        math.log((math.exp(log_given[0][c]) + math.exp(log_given[1][c])) / 2)
        for c in (0, 1)
    ]
    expected = torch.tensor(
        [[log_given[n][c] - log_prior[c] for c in (0, 1)] for n in (0, 1)]
    )
    got = soft_wpmi(
        A, S, top_k=2, a=0.5, lam=1.0, min_prob=0.0, p_start=1.0, p_end=0.5
    )
    assert torch.allclose(got, expected, atol=1e-5)
    assert soft_wpmi(A, S, top_k=50).shape == (
        2,
        2,
    )  # top_k capped at the number of clips


def test_probabilities_instead_of_similarities_are_flagged(caplog):
    with caplog.at_level(logging.WARNING):
        wpmi(A, torch.softmax(S, dim=1), top_k=2)
    assert "probabilities" in caplog.text


@pytest.mark.parametrize("name", ["cos_cubed", "wpmi", "soft_wpmi"])
def test_tab_finds_the_concept_each_neuron_follows(name):
    g = torch.Generator().manual_seed(0)
    n_clips, n_concepts, dim = 200, 6, 16
    concepts = torch.nn.functional.normalize(
        torch.randn(n_concepts, dim, generator=g), dim=-1
    )
    labels = torch.arange(n_clips) % n_concepts
    audio = concepts[labels] + 0.3 * torch.randn(n_clips, dim, generator=g)
    # neuron j fires on clips of concept perm[j]
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    acts = (labels[:, None] == perm[None, :]).float() * 2 + 0.1 * torch.randn(
        n_clips, n_concepts, generator=g
    )
    kwargs = {"top_k": 20} if name != "cos_cubed" else {}
    scores = tab_scores(acts, audio, concepts, similarity_fn=name, **kwargs)
    assert scores.argmax(dim=1).tolist() == perm.tolist()


@pytest.fixture(scope="module")
def encoder():
    return SentenceEncoder(device="cpu")


def test_db_picks_the_concept_the_descriptions_name(encoder):
    concepts = ["dog", "rain", "siren", "church_bells"]
    descriptions = [
        "A dog barks twice.",
        "A large dog is barking loudly.",
        "Dog barking in the distance.",
        "A small dog yelps and barks.",
        "Barking of an angry dog outdoors.",
        "Rain falls on a roof.",
        "Heavy rain pours down.",
        "Light rain patters on leaves.",
        "Steady rainfall with distant thunder.",
        "Raindrops hit a window during the rain.",
        "A police siren wails.",
        "An ambulance siren passes by.",
        "A loud siren rises and falls.",
        "Emergency siren in the city.",
        "A fire truck siren blares.",
        "Church bells ring.",
        "Bells of a church chime at noon.",
        "A church bell tolls slowly.",
        "Ringing church bells echo.",
        "Large bells ring in a tower.",
    ]
    acts = torch.zeros(20, 4)
    for neuron, concept_of_neuron in enumerate([2, 0, 3, 1]):
        acts[5 * concept_of_neuron : 5 * concept_of_neuron + 5, neuron] = (
            torch.arange(5, 0, -1).float()
        )
    scores = db_scores(descriptions, acts, concepts, encoder, k=5)
    assert rank_concepts(scores, concepts, top=1) == [
        ["siren"],
        ["dog"],
        ["church_bells"],
        ["rain"],
    ]
    # mean of similarities == similarities with the mean embedding
    emb = torch.nn.functional.normalize(torch.randn(4, 3), dim=-1)
    conc = torch.nn.functional.normalize(torch.randn(2, 3), dim=-1)
    top = torch.tensor([[0, 1], [2, 3]])
    expected = torch.stack(
        [emb[[0, 1]].mean(0) @ conc.T, emb[[2, 3]].mean(0) @ conc.T]
    )
    assert torch.allclose(
        description_based_scores(emb, top, conc), expected, atol=1e-6
    )


def test_icl_and_last_layer_accuracy():
    class EchoLLM:
        def choose_concept(self, summary, concepts, examples):
            return next(c for c in concepts if c in summary)

    chosen = icl_concepts(
        EchoLLM(),
        ["about rain", "a dog", "rain again"],
        ["dog", "rain"],
        progress=False,
    )
    assert chosen == ["rain", "dog", "rain"]
    assert last_layer_accuracy(
        [[c] for c in chosen], ["rain", "rain", "rain"], k=1
    ) == pytest.approx(2 / 3)
    ranked = [
        ["dog", "rain", "siren"],
        ["rain", "Church_bells", "dog"],
        ["siren", "dog", "rain"],
    ]
    truths = ["dog", "church bells", None]
    assert last_layer_accuracy(ranked, truths, k=1) == 0.5
    assert last_layer_accuracy(ranked, truths, k=5) == 1.0
