"""Analysis: share of "uninterpretable" neurons per layer (AND, section 4.5).

Descriptions are clustered with K-means over their sentence-encoder embeddings, one cluster per clip (``unit
"description"``, the default). A neuron is uninterpretable when no cluster holds at least ``tau`` of its top-K
clips (the paper reports tau = 3/5, 4/5, 5/5).

``unit "sentence"`` clusters the sentences of the descriptions instead, and a description belongs to every
cluster one of its sentences falls in. With a templated captioner that is nearly meaningless: a sentence most
descriptions share ("It is a single short event.") puts almost every clip in one cluster, so every neuron counts
as interpretable whatever it responds to.
"""

import io
import logging
import math

import torch

from interpretability.dissection.calibration import split_sentences
from interpretability.results import atomic_write_bytes

logger = logging.getLogger(__name__)


def description_clusters(
    descriptions, text_encoder, n_clusters=10, seed=0, unit="description"
):
    """K-means over the embeddings of the descriptions (``unit "description"``: one cluster per clip) or of their
    sentences (``unit "sentence"``: a clip joins the cluster of each of its sentences).

    Returns per description the set of its cluster ids; ``n_clusters`` is capped at the number of distinct texts.
    """
    from sklearn.cluster import KMeans

    if unit not in ("description", "sentence"):
        raise ValueError(
            f"unit must be 'description' or 'sentence', got {unit!r}"
        )
    texts, owner = [], []
    for i, description in enumerate(descriptions):
        parts = (
            split_sentences(description)
            if unit == "sentence"
            else (
                [description.strip()]
                if description and description.strip()
                else []
            )
        )
        for text in parts:
            texts.append(text)
            owner.append(i)
    clusters = [set() for _ in descriptions]
    if not texts:
        return clusters
    distinct = sorted(set(texts))
    embeddings = text_encoder.encode(distinct).numpy()
    k = max(1, min(n_clusters, len(distinct)))
    labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(
        embeddings
    )
    label_of = dict(zip(distinct, labels.tolist()))
    for text, i in zip(texts, owner):
        clusters[i].add(label_of[text])
    return clusters


def uninterpretable_neurons(top_indices, clusters, tau=0.6):
    """``BoolTensor [M]``: no cluster is shared by at least ``ceil(tau * K)`` of a neuron's top-K clips.

    ``top_indices`` ``[M, K]`` clip indices; ``clusters`` per clip the set of its cluster ids.
    """
    if not 0 < tau <= 1:
        raise ValueError(f"tau must be in (0, 1], got {tau}")
    k = top_indices.shape[1]
    needed = math.ceil(tau * k - 1e-9)
    flags = []
    for row in top_indices.tolist():
        counts = {}
        for clip in row:
            for cluster in clusters[clip]:
                counts[cluster] = counts.get(cluster, 0) + 1
        flags.append(max(counts.values(), default=0) < needed)
    return torch.tensor(flags, dtype=torch.bool)


def uninterpretable_share(top_indices_per_layer, clusters, tau=0.6):
    """``{layer: share in [0, 1]}`` of uninterpretable neurons, from ``{layer: [M, K] top-K clip indices}``."""
    return {
        layer: float(uninterpretable_neurons(top, clusters, tau).float().mean())
        for layer, top in top_indices_per_layer.items()
    }


def plot_uninterpretable(shares, path, title="Uninterpretable neurons"):
    """Line plot of the percentage of uninterpretable neurons per layer, written to ``path`` (PNG) atomically.

    ``shares`` is ``{layer: share}`` or ``{series: {layer: share}}`` (e.g. one series per model or tau);
    layers are plotted in the order given.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if shares and all(isinstance(v, (int, float)) for v in shares.values()):
        shares = {"": shares}
    figure, axis = plt.subplots(
        figsize=(
            max(4.0, 0.6 * max((len(s) for s in shares.values()), default=1)),
            3.5,
        )
    )
    try:
        for series, per_layer in shares.items():
            layers = list(per_layer)
            axis.plot(
                range(len(layers)),
                [100 * per_layer[layer] for layer in layers],
                marker="o",
                label=series or None,
            )
            axis.set_xticks(range(len(layers)), layers, rotation=45, ha="right")
        axis.set_ylabel("uninterpretable neurons (%)")
        axis.set_ylim(0, 100)
        axis.set_title(title)
        if any(shares):
            axis.legend()
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=120)
    finally:
        plt.close(figure)
    atomic_write_bytes(path, buffer.getvalue())
    return path
