"""Label-based dissection: neurons matched to the dataset's own labels by the overlap of their top clips.

Network Dissection (Bau et al., CVPR 2017) at the level of clips: the concepts are the dataset's labels (its classes
and, for ESC-50, also its five major categories), a clip *holds* a concept when its label is that class or belongs
to that category, and a neuron is matched to the concept whose clips overlap its top-K clips most, by
intersection over union. No captioner, text encoder or language model is involved, so the figures hold on any
labelled dataset; what they cannot do is name anything the labels do not name.

Shapes: top-K clip indices ``[M_neurons, K]``, concept masks ``[N_clips, C_concepts]`` (bool), scores ``[M, C]``.
"""

import logging

import torch

from interpretability.dissection.summarizers import normalize_phrase

logger = logging.getLogger(__name__)

# ESC-50's five major categories; a class's target // 10 is its category.
ESC50_MAJOR_CATEGORIES = {
    "animals": [
        "dog",
        "rooster",
        "pig",
        "cow",
        "frog",
        "cat",
        "hen",
        "insects",
        "sheep",
        "crow",
    ],
    "natural soundscapes and water sounds": [
        "rain",
        "sea_waves",
        "crackling_fire",
        "crickets",
        "chirping_birds",
        "water_drops",
        "wind",
        "pouring_water",
        "toilet_flush",
        "thunderstorm",
    ],
    "human non-speech sounds": [
        "crying_baby",
        "sneezing",
        "clapping",
        "breathing",
        "coughing",
        "footsteps",
        "laughing",
        "brushing_teeth",
        "snoring",
        "drinking_sipping",
    ],
    "interior and domestic sounds": [
        "door_wood_knock",
        "mouse_click",
        "keyboard_typing",
        "door_wood_creaks",
        "can_opening",
        "washing_machine",
        "vacuum_cleaner",
        "clock_alarm",
        "clock_tick",
        "glass_breaking",
    ],
    "exterior and urban noises": [
        "helicopter",
        "chainsaw",
        "siren",
        "car_horn",
        "engine",
        "train",
        "church_bells",
        "airplane",
        "fireworks",
        "hand_saw",
    ],
}


def default_groups(classes):
    """ESC-50's major categories (those holding one of ``classes``) when every class is an ESC-50 class, else {}."""
    known = {
        normalize_phrase(c)
        for members in ESC50_MAJOR_CATEGORIES.values()
        for c in members
    }
    names = {normalize_phrase(c) for c in classes}
    if not names or not names <= known:
        return {}
    return {
        group: [
            c
            for c in classes
            if normalize_phrase(c) in {normalize_phrase(m) for m in members}
        ]
        for group, members in ESC50_MAJOR_CATEGORIES.items()
        if any(normalize_phrase(m) in names for m in members)
    }


def label_concepts(classes, groups=None):
    """The concepts of label-based dissection: every class, then every group of classes.

    ``groups`` ``{name: [class, ...]}`` (None: :func:`default_groups`). Returns ``(concepts, membership)``:
    ``membership`` ``BoolTensor [C_concepts, n_classes]``, True where the class belongs to the concept.
    """
    groups = default_groups(classes) if groups is None else dict(groups)
    index = {normalize_phrase(c): i for i, c in enumerate(classes)}
    concepts = list(classes)
    membership = [torch.eye(len(classes), dtype=torch.bool)]
    for name, members in groups.items():
        if normalize_phrase(name) in index:
            raise ValueError(f"concept group {name!r} has the name of a class")
        unknown = [m for m in members if normalize_phrase(m) not in index]
        if unknown:
            raise ValueError(
                f"concept group {name!r} names classes that are not in the data: {unknown}"
            )
        row = torch.zeros(1, len(classes), dtype=torch.bool)
        row[0, [index[normalize_phrase(m)] for m in members]] = True
        concepts.append(name)
        membership.append(row)
    return concepts, torch.cat(membership)


def class_matrix(labels, n_classes, multilabel=False):
    """``BoolTensor [N_clips, n_classes]``: the classes present in each clip (class indices, or 0/1 lists)."""
    if multilabel:
        return torch.tensor(
            [[bool(v) for v in row] for row in labels], dtype=torch.bool
        ).reshape(-1, n_classes)
    matrix = torch.zeros(len(labels), n_classes, dtype=torch.bool)
    matrix[
        torch.arange(len(labels)),
        torch.tensor([int(v) for v in labels], dtype=torch.long),
    ] = True
    return matrix


def concept_masks(classes_present, membership):
    """``[N, n_classes]`` and ``[C, n_classes]`` -> ``BoolTensor [N, C]``: the clip holds a class of the concept."""
    return (classes_present.float() @ membership.float().T) > 0


def top_k_hits(top_indices, masks):
    """How many of each neuron's top-K clips hold each concept: ``[M, K]``, ``[N, C]`` -> ``[M, C]`` (float)."""
    return masks[top_indices].float().sum(dim=1)


def overlap_scores(top_indices, masks):
    """Intersection over union of each neuron's top-K clips with each concept's clips: ``[M, C]`` in [0, 1].

    ``|T & L| / (K + |L| - |T & L|)``; e.g. 4 of 5 top clips in a class of 8 clips: 4 / (5 + 8 - 4) = 4 / 9.
    """
    hits = top_k_hits(top_indices, masks)
    sizes = masks.float().sum(dim=0, keepdim=True)
    union = top_indices.shape[1] + sizes - hits
    return torch.where(
        union > 0, hits / union.clamp_min(1), torch.zeros_like(hits)
    )


def rank_by_overlap(scores, top_indices, masks, concepts, top=None):
    """Concepts of each neuron, best first: by score, then by the rank of the highest top-K clip holding the
    concept (a tie goes to the concept of the more strongly activating clip), then by concept order.

    Returns ``list[list[str]]`` (``top`` of them).
    """
    k = top_indices.shape[1]
    held = masks[top_indices]  # [M, K, C]
    positions = torch.arange(k).view(1, k, 1).expand_as(held)
    first = (
        torch.where(held, positions, torch.full_like(positions, k))
        .min(dim=1)
        .values
    )  # [M, C]
    order = torch.sort(first, dim=1, stable=True).indices
    order = order.gather(
        1,
        torch.sort(
            scores.gather(1, order), dim=1, descending=True, stable=True
        ).indices,
    )
    if top is not None:
        order = order[:, :top]
    return [[concepts[int(j)] for j in row] for row in order]


def top_k_share(top_indices, masks, concept_of_neuron):
    """Share of each neuron's top-K clips that hold its concept: ``[M, K]``, ``[N, C]``, ``[M]`` concept index
    (-1: none) -> ``[M]`` (NaN where the neuron has none)."""
    concept_of_neuron = torch.as_tensor(concept_of_neuron, dtype=torch.long)
    hits = top_k_hits(top_indices, masks)
    known = concept_of_neuron >= 0
    share = torch.full((top_indices.shape[0],), float("nan"))
    rows = torch.nonzero(known).flatten()
    share[rows] = hits[rows, concept_of_neuron[rows]] / top_indices.shape[1]
    return share


def clip_concept_sets(masks):
    """Per clip the set of concept indices it holds (the clusters of :func:`~.analysis.uninterpretable_neurons`)."""
    return [set(torch.nonzero(row).flatten().tolist()) for row in masks]
