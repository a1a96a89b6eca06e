"""Module A, closed-concept identification: DB, TAB (CLIP-Dissect similarities) and ICL; last-layer accuracy.

Shapes: activations ``[N_clips, N_neurons]``, clip-concept similarities ``[N_clips, N_concepts]``,
scores ``[N_neurons, N_concepts]`` (higher = better match).
"""

import logging
import math

import torch
from tqdm import tqdm

from interpretability.dissection.summarizers import (
    DEFAULT_ICL_EXAMPLES,
    normalize_phrase,
)

logger = logging.getLogger(__name__)

TOP_K = 5


# ------------------------------------------------------------------------------------------ top-K clips
def top_k_indices(activations, k=TOP_K, largest=True):
    """Clip indices of each neuron's ``k`` highest (or lowest) activations, most extreme first.

    ``[N_clips, N_neurons]`` -> ``LongTensor [N_neurons, k]``; ties go to the lower clip index.
    """
    n = activations.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k must be in [1, {n}] for {n} clips, got {k}")
    order = torch.sort(
        activations, dim=0, descending=largest, stable=True
    ).indices
    return order[:k].T.contiguous()


def top_descriptions(descriptions, indices):
    """``descriptions`` (one per clip, row order of the activations) of each neuron's clips ``[M, K]``."""
    return [[descriptions[int(i)] for i in row] for row in indices]


def concept_texts(concepts, template="{}"):
    """Concept names as text for an encoder: underscores to spaces, formatted with ``template``."""
    return [template.format(c.replace("_", " ")) for c in concepts]


def rank_concepts(scores, concepts, top=None):
    """Concepts of each neuron, best first: ``[M, C]`` scores -> ``list[list[str]]`` (``top`` of them)."""
    if scores.shape[1] != len(concepts):
        raise ValueError(
            f"scores have {scores.shape[1]} columns for {len(concepts)} concepts"
        )
    order = torch.sort(scores, dim=1, descending=True, stable=True).indices
    if top is not None:
        order = order[:, :top]
    return [[concepts[int(j)] for j in row] for row in order]


# ------------------------------------------------------------------------------------------ DB
def description_based_scores(
    description_embeddings, top_indices, concept_embeddings
):
    """DB scores: mean over a neuron's top-K descriptions of their cosine similarity with each concept.

    ``[N_clips, d]`` unit rows, ``[M, K]``, ``[C, d]`` unit rows -> ``[M, C]``. This equals the dot product of
    the concept with the *mean* description embedding; normalising that mean would rescale each neuron's row by
    a constant, so the ranking is the same either way.
    """
    similarity = description_embeddings @ concept_embeddings.T  # [N, C]
    return similarity[top_indices].mean(dim=1)


def db_scores(
    descriptions,
    activations,
    concepts,
    text_encoder,
    k=TOP_K,
    concept_template="{}",
):
    """DB for every neuron of a layer: encodes the descriptions the top-K clips use and the concepts.

    ``descriptions`` follow the activation rows. Returns ``[N_neurons, N_concepts]``.
    """
    if len(descriptions) != activations.shape[0]:
        raise ValueError(
            f"{len(descriptions)} descriptions for {activations.shape[0]} activation rows"
        )
    top = top_k_indices(activations.detach().cpu(), k)
    used = sorted({int(i) for i in top.flatten()})
    position = torch.full((activations.shape[0],), -1, dtype=torch.long)
    position[used] = torch.arange(len(used))
    embeddings = text_encoder.encode([descriptions[i] for i in used])
    concept_embeddings = text_encoder.encode(
        concept_texts(concepts, concept_template)
    )
    return description_based_scores(
        embeddings, position[top], concept_embeddings
    )


# ------------------------------------------------------------------------------------------ TAB
# Similarity functions of CLIP-Dissect (Oikarinen & Weng, ICLR 2023), written from the paper's definitions.
# ``similarity`` is the raw cosine similarity of clip and concept embeddings (no softmax: the functions that need
# probabilities take the softmax themselves, once).


def _check_inputs(activations, similarity):
    if (
        activations.ndim != 2
        or similarity.ndim != 2
        or activations.shape[0] != similarity.shape[0]
    ):
        raise ValueError(
            f"activations [N, M] and similarity [N, C] must share N; got {tuple(activations.shape)} "
            f"and {tuple(similarity.shape)}"
        )
    sums = similarity.sum(dim=1)
    if (
        similarity.shape[1] > 1
        and bool((similarity >= 0).all())
        and torch.allclose(sums, torch.ones_like(sums))
    ):
        logger.warning(
            "clip-concept similarities look like probabilities already; give raw cosine similarities "
            "(a second softmax flattens them)"
        )
    return activations.float(), similarity.float()


def cos_cubed(activations, similarity, min_norm=1e-3):
    """Cosine similarity of centred, cubed columns: ``[N, M]``, ``[N, C]`` -> ``[M, C]``.

    Each neuron's activations and each concept's similarities are centred over clips, raised to the third power
    (emphasising the extremes) and L2-normalised (norm clamped at ``min_norm``).
    """
    activations, similarity = _check_inputs(activations, similarity)

    def prepare(x):
        x = (x - x.mean(dim=0, keepdim=True)) ** 3
        return x / x.norm(dim=0, keepdim=True).clamp_min(min_norm)

    return prepare(activations).T @ prepare(similarity)


def _log_prob_concepts_given_neurons(
    probabilities, top, weights, min_prob, chunk
):
    """``sum_j log(1 + w_j (P[top_j, c] - 1) + min_prob)`` per neuron; ``w_j = 1`` gives ``sum_j log P``."""
    rows = []
    for start in range(0, top.shape[0], chunk):
        gathered = probabilities[top[start : start + chunk]]  # [m, k, C]
        if weights is not None:
            gathered = 1 + weights.view(1, -1, 1) * (gathered - 1)
        rows.append(torch.log(gathered + min_prob).sum(dim=1))
    return torch.cat(rows)


def _pointwise_mutual_information(log_p_given, lam):
    """``log p(c|n) - lam * log p(c)``, with ``p(c)`` the mean of ``p(c|n)`` over the layer's neurons."""
    log_p = torch.logsumexp(log_p_given, dim=0, keepdim=True) - math.log(
        log_p_given.shape[0]
    )
    return log_p_given - lam * log_p


def wpmi(
    activations, similarity, top_k=28, a=2.0, lam=0.6, min_prob=1e-7, chunk=256
):
    """Weighted pointwise mutual information (CLIP-Dissect's WPMI): ``[N, M]``, ``[N, C]`` -> ``[M, C]``.

    ``P = softmax(a * similarity)`` over concepts; ``log p(c|n) = sum over the neuron's top_k clips of log P``;
    ``score = log p(c|n) - lam * log p(c)`` where ``p(c)`` averages ``p(c|n)`` over **all neurons given**, so call it
    on a whole layer at once. Defaults are CLIP-Dissect's; ``top_k`` is capped at N.
    """
    activations, similarity = _check_inputs(activations, similarity)
    probabilities = torch.softmax(a * similarity, dim=1)
    top = top_k_indices(activations, min(top_k, activations.shape[0]))
    return _pointwise_mutual_information(
        _log_prob_concepts_given_neurons(
            probabilities, top, None, min_prob, chunk
        ),
        lam,
    )


def soft_wpmi(
    activations,
    similarity,
    top_k=100,
    a=10.0,
    lam=1.0,
    min_prob=1e-7,
    p_start=0.998,
    p_end=0.97,
    chunk=256,
):
    """Soft-WPMI (CLIP-Dissect's default): ``[N, M]``, ``[N, C]`` -> ``[M, C]``.

    Like :func:`wpmi`, but the j-th most activating clip (j = 0..k-1) is in the neuron's example set only with
    probability ``p_j = p_start - j / k * (p_start - p_end)``:
    ``log p(c|n) = sum_j log(1 + p_j * (P[clip_j, c] - 1))``. ``P = softmax(a * similarity)``, applied once.
    """
    activations, similarity = _check_inputs(activations, similarity)
    probabilities = torch.softmax(a * similarity, dim=1)
    k = min(top_k, activations.shape[0])
    top = top_k_indices(activations, k)
    weights = p_start - torch.arange(
        k, dtype=torch.float32, device=similarity.device
    ) / k * (p_start - p_end)
    return _pointwise_mutual_information(
        _log_prob_concepts_given_neurons(
            probabilities, top, weights, min_prob, chunk
        ),
        lam,
    )


SIMILARITY_FUNCTIONS = {
    "cos_cubed": cos_cubed,
    "wpmi": wpmi,
    "soft_wpmi": soft_wpmi,
}


def clip_concept_similarity(audio_embeddings, concept_embeddings):
    """Cosine similarity of clip and concept embeddings: ``[N, d]``, ``[C, d]`` -> ``[N, C]``."""
    a = torch.nn.functional.normalize(audio_embeddings.float(), dim=-1)
    c = torch.nn.functional.normalize(concept_embeddings.float(), dim=-1)
    return a @ c.T


def tab_scores(
    activations,
    audio_embeddings,
    concept_embeddings,
    similarity_fn="soft_wpmi",
    **kwargs,
):
    """TAB: CLAP clip-concept similarities combined with a layer's activations by a CLIP-Dissect function.

    ``[N, M]`` activations, ``[N, d]`` CLAP audio embeddings, ``[C, d]`` CLAP text embeddings -> ``[M, C]``.
    """
    if similarity_fn not in SIMILARITY_FUNCTIONS:
        raise ValueError(
            f"similarity_fn must be one of {sorted(SIMILARITY_FUNCTIONS)}, got {similarity_fn!r}"
        )
    similarity = clip_concept_similarity(audio_embeddings, concept_embeddings)
    return SIMILARITY_FUNCTIONS[similarity_fn](
        activations, similarity, **kwargs
    )


# ------------------------------------------------------------------------------------------ ICL
def icl_concepts(
    llm, summaries, concepts, examples=DEFAULT_ICL_EXAMPLES, progress=True
):
    """ICL: the LLM picks one concept per neuron summary (its answer mapped to the nearest concept).

    ``summaries`` one per neuron; returns ``list[str]`` (each one of ``concepts``).
    """
    return [
        llm.choose_concept(summary, concepts, examples)
        for summary in tqdm(summaries, desc="ICL", disable=not progress)
    ]


# ------------------------------------------------------------------------------------------ accuracy
def last_layer_accuracy(ranked_concepts_per_neuron, true_class_per_neuron, k=1):
    """Share of output neurons whose true class is among their ``k`` best concepts.

    Neurons whose true class is None are skipped. Names compare case-, ``_``- and punctuation-insensitively.
    A single-answer method (ICL) passes one-element lists, so its top-k equals its top-1.
    """
    if len(ranked_concepts_per_neuron) != len(true_class_per_neuron):
        raise ValueError(
            f"{len(ranked_concepts_per_neuron)} ranked lists for {len(true_class_per_neuron)} classes"
        )
    hits = total = 0
    for ranked, truth in zip(ranked_concepts_per_neuron, true_class_per_neuron):
        if truth is None:
            continue
        if isinstance(ranked, str):
            ranked = [ranked]
        total += 1
        hits += normalize_phrase(truth) in {
            normalize_phrase(c) for c in list(ranked)[:k]
        }
    if total == 0:
        raise ValueError("no neuron has a known class")
    return hits / total
