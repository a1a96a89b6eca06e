"""Assembly: ``neurons_<layer>.json``, everything known about each neuron."""

import torch

from interpretability.dissection.stages.base import StageBase, layer_file_name
from interpretability.results import atomic_write_json


class AssemblyStage(StageBase):
    """``neurons_<layer>.json``."""

    def write_neuron_files(
        self,
        activations,
        descriptions,
        top,
        closed,
        summaries,
        open_concepts,
        analysis,
        label=None,
    ):
        """``neurons_<layer>.json``: per neuron its top / bottom clips with their labels and descriptions, summaries,
        concepts (closed: DB / TAB scores and ICL's pick over the concept set; ``label``: the label-based concepts
        with their IoU) and whether it is uninterpretable."""
        ids = activations.ids
        label_names = self._label_names()
        for layer, values in activations.items():
            truth = (
                self.true_classes(values.shape[1])
                if layer == self.options.output_layer
                else None
            )
            neurons = []
            for neuron in range(values.shape[1]):
                entry = {"id": neuron}
                if truth is not None:
                    entry["true_class"] = truth[neuron]
                for side, name in (
                    ("top", "top_clips"),
                    ("bottom", "bottom_clips"),
                ):
                    entry[name] = []
                    for i in top[layer][side][neuron].tolist():
                        clip = {
                            "id": ids[i],
                            "activation": round(float(values[i, neuron]), 6),
                            "label": label_names[i],
                        }
                        if descriptions is not None:
                            clip["description"] = descriptions[i]
                        entry[name].append(clip)
                summary = (summaries or {}).get(layer, {}).get(neuron)
                if summary is not None:
                    entry.update(
                        {
                            k: summary[k]
                            for k in (
                                "highly_summary",
                                "lowly_summary",
                                "calibrated_summary",
                                "removed",
                            )
                        }
                    )
                if open_concepts is not None and neuron in open_concepts.get(
                    layer, {}
                ):
                    entry["open_concepts"] = open_concepts[layer][neuron]
                entry["closed_concepts"] = {}
                for method, scores in closed.items():
                    if scores is None:
                        continue
                    if method == "ICL":
                        if neuron in scores.get(layer, {}):
                            entry["closed_concepts"]["ICL"] = scores[layer][
                                neuron
                            ]
                        continue
                    row = scores[layer][neuron]
                    best = (
                        torch.sort(row, descending=True, stable=True)
                        .indices[:5]
                        .tolist()
                    )
                    entry["closed_concepts"][method] = [
                        {
                            "concept": self.concepts[j],
                            "score": round(float(row[j]), 6),
                        }
                        for j in best
                    ]
                if label is not None:
                    index = {c: j for j, c in enumerate(label["concepts"])}
                    entry["closed_concepts"]["label"] = [
                        {
                            "concept": c,
                            "iou": round(
                                float(label["scores"][layer][neuron, index[c]]),
                                6,
                            ),
                        }
                        for c in label["ranked"][layer][neuron]
                    ]
                if analysis is not None:
                    entry["uninterpretable"] = {
                        t: bool(flags[layer][neuron])
                        for t, flags in analysis["uninterpretable"].items()
                    }
                neurons.append(entry)
            atomic_write_json(
                self.path(layer_file_name(layer)),
                {
                    "layer": layer,
                    "pooling": activations.pooling,
                    "k": self.options.k,
                    "concepts": self.concepts,
                    "label_concepts": label["concepts"]
                    if label is not None
                    else None,
                    "neurons": neurons,
                },
            )

    def _label_names(self):
        """The label of each probing clip as text (multi-label: the present classes joined by ``+``)."""
        classes = self.probing.classes
        if self.probing.multilabel:
            return [
                "+".join(c for c, v in zip(classes, label) if v)
                for label in self.probing.labels
            ]
        return [classes[int(label)] for label in self.probing.labels]
