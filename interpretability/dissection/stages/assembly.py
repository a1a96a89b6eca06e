"""Assembly: ``neurons_<layer>.json``, everything known about each neuron."""
import torch

from interpretability.dissection.stages.base import StageBase, layer_file_name
from interpretability.results import atomic_write_json


class AssemblyStage(StageBase):
    """``neurons_<layer>.json``."""

    def write_neuron_files(self, activations, descriptions, top, closed, summaries, open_concepts, analysis):
        """``neurons_<layer>.json``: per neuron its top / bottom clips with descriptions, summaries and concepts."""
        ids = activations.ids
        for layer, values in activations.items():
            truth = self.true_classes(values.shape[1]) if layer == self.options.output_layer else None
            neurons = []
            for neuron in range(values.shape[1]):
                entry = {"id": neuron}
                if truth is not None:
                    entry["true_class"] = truth[neuron]
                for side, name in (("top", "top_clips"), ("bottom", "bottom_clips")):
                    entry[name] = [{"id": ids[i], "activation": round(float(values[i, neuron]), 6),
                                    "description": descriptions[i]} for i in top[layer][side][neuron].tolist()]
                summary = (summaries or {}).get(layer, {}).get(neuron)
                if summary is not None:
                    entry.update({k: summary[k] for k in ("highly_summary", "lowly_summary", "calibrated_summary",
                                                          "removed")})
                if open_concepts is not None and neuron in open_concepts.get(layer, {}):
                    entry["open_concepts"] = open_concepts[layer][neuron]
                entry["closed_concepts"] = {}
                for method, scores in closed.items():
                    if scores is None:
                        continue
                    if method == "ICL":
                        if neuron in scores.get(layer, {}):
                            entry["closed_concepts"]["ICL"] = scores[layer][neuron]
                        continue
                    row = scores[layer][neuron]
                    best = torch.sort(row, descending=True, stable=True).indices[:5].tolist()
                    entry["closed_concepts"][method] = [{"concept": self.concepts[j], "score": round(float(row[j]), 6)}
                                                        for j in best]
                if analysis is not None:
                    entry["uninterpretable"] = {t: bool(flags[layer][neuron])
                                                for t, flags in analysis["uninterpretable"].items()}
                neurons.append(entry)
            atomic_write_json(self.path(layer_file_name(layer)), {
                "layer": layer, "pooling": activations.pooling, "k": self.options.k, "concepts": self.concepts,
                "neurons": neurons})
