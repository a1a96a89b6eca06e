"""Modules B and C: summaries of each neuron's descriptions, the calibrated summary, open concepts."""

from tqdm import tqdm

from interpretability.dissection.calibration import calibrate_neuron
from interpretability.dissection.open_concepts import extract_open_concepts
from interpretability.dissection.stages.base import (
    PartialRecords,
    StageBase,
    _plain,
    _read_json,
)
from interpretability.dissection.summarizers import ExtractiveSummarizer
from interpretability.results import atomic_write_json

EXTRACTIVE_CALIBRATION_THRESHOLD = (
    0.97  # templated summaries: only identical sentences (see calibration.py)
)
LLM_CALIBRATION_THRESHOLD = (
    0.5  # the AND paper's value for free-text LLM summaries
)


class SummaryStages(StageBase):
    """Modules B and C: ``summaries.json``, ``open_concepts.json``."""

    def calibration_threshold(self):
        if self.options.calibration_threshold is not None:
            return float(self.options.calibration_threshold)
        if isinstance(self.backends.summarizer, ExtractiveSummarizer):
            return EXTRACTIVE_CALIBRATION_THRESHOLD
        return LLM_CALIBRATION_THRESHOLD

    def summaries(self, descriptions, top, widths):
        """Module B: summaries of each neuron's highly / lowly activated descriptions, and the calibrated summary."""
        if "summaries" in self.options.skip or descriptions is None:
            return None
        if not self._done("summaries.json"):
            threshold = self.calibration_threshold()
            partial = PartialRecords(
                self.path("summaries.partial.jsonl"), ("layer", "neuron")
            )
            todo = [
                (layer, n)
                for layer, n in self._work(self._summarised_neurons(widths))
                if (layer, n) not in partial
            ]
            if todo:
                summarizer, encoder = (
                    self.backends.summarizer,
                    self.backends.text_encoder,
                )
                for layer, neuron in tqdm(
                    todo, desc="summaries", disable=not self.options.progress
                ):
                    highly = [
                        descriptions[i]
                        for i in top[layer]["top"][neuron].tolist()
                    ]
                    lowly = [
                        descriptions[i]
                        for i in top[layer]["bottom"][neuron].tolist()
                    ]
                    partial.append(
                        {
                            "layer": layer,
                            "neuron": neuron,
                            **calibrate_neuron(
                                summarizer, encoder, highly, lowly, threshold
                            ),
                        }
                    )
            partial.close()
            atomic_write_json(
                self.path("summaries.json"),
                {
                    "threshold": threshold,
                    "layers": self._by_layer(partial.records, widths),
                },
            )
            partial.close(remove=True)
        return self._int_keys(_read_json(self.path("summaries.json"))["layers"])

    def open_concepts(self, summaries):
        """Module C: open-vocabulary concepts (POS-tagged words) of each calibrated summary."""
        if "open_concepts" in self.options.skip or summaries is None:
            return None
        if not self._done("open_concepts.json"):
            tagger, found, cache = self.backends.pos_tagger, {}, {}
            for layer, neurons in summaries.items():
                found[layer] = {}
                for neuron, record in tqdm(
                    neurons.items(),
                    desc=f"open concepts {layer}",
                    disable=not self.options.progress,
                ):
                    text = record["calibrated_summary"]
                    if text not in cache:
                        cache[text] = dict(
                            extract_open_concepts(
                                text, tagger, self.options.include_nouns_verbs
                            ).most_common()
                        )
                    found[layer][neuron] = cache[text]
            atomic_write_json(
                self.path("open_concepts.json"), {"layers": _plain(found)}
            )
        return self._int_keys(
            _read_json(self.path("open_concepts.json"))["layers"]
        )
