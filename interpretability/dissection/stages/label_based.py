"""Label-based dissection: neurons matched to the dataset's labels by the overlap of their top-K clips, and the
captioner-free figures built on it (selectivity, last-layer accuracy, uninterpretable share)."""

import logging

import torch

from interpretability.dissection.analysis import uninterpretable_neurons
from interpretability.dissection.concepts import last_layer_accuracy
from interpretability.dissection.label_based import (
    class_matrix,
    clip_concept_sets,
    concept_masks,
    label_concepts,
    overlap_scores,
    rank_by_overlap,
    top_k_share,
)
from interpretability.dissection.stages.base import StageBase
from interpretability.dissection.summarizers import normalize_phrase
from interpretability.errors import InputError
from interpretability.results import atomic_torch_save

logger = logging.getLogger(__name__)

RANKED = 5  # concepts kept per neuron in the ranking (pruning, neuron files, top-5 accuracy)


class LabelStage(StageBase):
    """Label-based dissection: ``closed_label.pt``."""

    def label_masks(self):
        """``(concepts, masks [N_clips, C] bool, classes present [N_clips, n_classes] bool)`` of the probing clips."""
        concepts, membership = label_concepts(
            self.probing.classes, self.options.label_groups
        )
        present = class_matrix(
            self.probing.labels,
            len(self.probing.classes),
            self.probing.multilabel,
        )
        return concepts, concept_masks(present, membership), present

    def closed_label(self, top):
        """IoU of each neuron's top-K clips with each label concept's clips ``{layer: [M, C]}``; returns
        ``{"concepts", "scores", "ranked"}`` (``ranked``: per layer the best concepts of each neuron), or None."""
        if "label_based" in self.options.skip:
            return None
        concepts, masks, _ = self.label_masks()
        if not self._done("closed_label.pt"):
            scores = {
                layer: overlap_scores(sides["top"], masks)
                for layer, sides in top.items()
            }
            atomic_torch_save(
                self.path("closed_label.pt"),
                {"concepts": concepts, "scores": scores},
            )
        data = torch.load(self.path("closed_label.pt"), weights_only=True)
        if data["concepts"] != concepts:
            raise InputError(
                f"{self.path('closed_label.pt')}: made with other label concepts "
                f"({data['concepts'][:4]}...); delete it to redo the label-based stage"
            )
        ranked = {
            layer: rank_by_overlap(
                scores, top[layer]["top"], masks, concepts, top=RANKED
            )
            for layer, scores in data["scores"].items()
        }
        return {
            "concepts": concepts,
            "scores": data["scores"],
            "ranked": ranked,
        }

    def output_class_indices(self, width):
        """Probing-class index of each output neuron (-1 where its class is not a probing class)."""
        index = {
            normalize_phrase(c): i for i, c in enumerate(self.probing.classes)
        }
        names = self.output_classes[:width] + [None] * max(
            0, width - len(self.output_classes)
        )
        return [
            index.get(normalize_phrase(n), -1) if n is not None else -1
            for n in names
        ]

    def output_selectivity(self, top, widths):
        """Mean over the output neurons of the share of their top-K clips from their own class (None when the
        output layer is not dissected or no output is a probing class)."""
        layer = self.options.output_layer
        if layer not in widths:
            return None
        own = self.output_class_indices(widths[layer])
        if all(i < 0 for i in own):
            return None
        _, _, present = self.label_masks()
        share = top_k_share(top[layer]["top"], present, own)
        return float(share[~torch.isnan(share)].mean())

    def label_metrics(self, label, top, widths):
        """The label-based figures: last-layer top-1 / top-5, selectivity per layer (share of each neuron's top-K
        clips holding its best concept), uninterpretable share per layer and tau (no label concept holds tau of
        the top-K clips)."""
        concepts, masks, _ = self.label_masks()
        metrics = {"concepts": len(concepts)}
        layer = self.options.output_layer
        if layer in widths:
            truth = [
                self.probing.classes[i] if i >= 0 else None
                for i in self.output_class_indices(widths[layer])
            ]
            if any(truth):
                ranked = label["ranked"][layer]
                metrics["last_layer_top1"] = last_layer_accuracy(
                    ranked, truth, k=1
                )
                metrics["last_layer_top5"] = last_layer_accuracy(
                    ranked, truth, k=5
                )
        index = {c: j for j, c in enumerate(concepts)}
        metrics["selectivity"] = {
            layer: float(
                top_k_share(
                    top[layer]["top"], masks, [index[r[0]] for r in ranked]
                ).mean()
            )
            for layer, ranked in label["ranked"].items()
        }
        clusters = clip_concept_sets(masks)
        shares = {
            f"{tau:g}": {
                layer: float(
                    uninterpretable_neurons(sides["top"], clusters, tau)
                    .float()
                    .mean()
                )
                for layer, sides in top.items()
            }
            for tau in self.taus()
        }
        metrics["uninterpretable"] = shares[next(iter(shares))]
        metrics["uninterpretable_by_tau"] = shares
        return metrics
