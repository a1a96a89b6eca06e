"""Module A, closed concepts: DB, TAB and ICL, and the last-layer accuracy they reach."""

import logging

import torch
from tqdm import tqdm

from interpretability.dissection.concepts import (
    concept_texts,
    description_based_scores,
    last_layer_accuracy,
    rank_concepts,
    tab_scores,
)
from interpretability.dissection.stages.base import (
    PartialRecords,
    StageBase,
    _read_json,
)
from interpretability.dissection.summarizers import ExtractiveSummarizer
from interpretability.results import atomic_torch_save, atomic_write_json

logger = logging.getLogger(__name__)


class ClosedConceptStages(StageBase):
    """Module A: ``closed_db.pt``, ``closed_tab.pt``, ``closed_icl.json``; the last-layer accuracy."""

    def closed_db(self, descriptions, top):
        """Module A, DB: similarity of each neuron's top-K descriptions with the concepts (None without them)."""
        if descriptions is None:
            return None
        if not self._done("closed_db.pt"):
            encoder = self.backends.text_encoder
            embeddings = encoder.encode(descriptions)
            concepts = encoder.encode(
                concept_texts(self.concepts, self.options.concept_template)
            )
            baseline = (
                (embeddings @ concepts.T).mean(dim=0)
                if self.options.db_centering
                else 0.0
            )
            scores = {
                layer: description_based_scores(
                    embeddings, sides["top"], concepts
                )
                - baseline
                for layer, sides in top.items()
            }
            atomic_torch_save(
                self.path("closed_db.pt"),
                {
                    "concepts": self.concepts,
                    "centred": bool(self.options.db_centering),
                    "scores": scores,
                },
            )
        return torch.load(self.path("closed_db.pt"), weights_only=True)[
            "scores"
        ]

    def closed_tab(self, activations):
        """Module A, TAB: CLAP clip-concept similarities combined with the activations (needs an audio-text encoder)."""
        if (
            "tab" in self.options.skip
            or not self.backends.has_audio_text_encoder
        ):
            logger.info(
                "TAB skipped (%s)",
                "skip"
                if "tab" in self.options.skip
                else "no audio-text encoder",
            )
            return None
        if not self._done("closed_tab.pt"):
            if not self._done("clap_embeddings.pt"):
                clap = self.backends.audio_text_encoder
                audio = clap.encode_audio(
                    [self.probing.wav(i) for i in range(len(self.probing))]
                )
                text = clap.encode_text(
                    concept_texts(self.concepts, self.options.concept_template)
                )
                atomic_torch_save(
                    self.path("clap_embeddings.pt"),
                    {
                        "ids": self.probing.ids,
                        "audio": audio,
                        "concepts": self.concepts,
                        "text": text,
                    },
                )
            embeddings = torch.load(
                self.path("clap_embeddings.pt"), weights_only=True
            )
            scores = {
                layer: tab_scores(
                    a,
                    embeddings["audio"],
                    embeddings["text"],
                    self.options.tab_similarity,
                    **(self.options.tab_options or {}),
                )
                for layer, a in activations.items()
            }
            atomic_torch_save(
                self.path("closed_tab.pt"),
                {
                    "concepts": self.concepts,
                    "similarity": self.options.tab_similarity,
                    "scores": scores,
                },
            )
        return torch.load(self.path("closed_tab.pt"), weights_only=True)[
            "scores"
        ]

    def closed_icl(self, summaries, descriptions, top):
        """Module A, ICL: the summariser / LLM picks the concept matching each neuron's highly-activated summary."""
        if "icl" in self.options.skip or summaries is None:
            return None
        if not self._done("closed_icl.json"):
            partial = PartialRecords(
                self.path("closed_icl.partial.jsonl"), ("layer", "neuron")
            )
            todo = [
                (layer, n)
                for layer in summaries
                for n in summaries[layer]
                if (layer, n) not in partial
            ]
            if todo:
                summarizer = self.backends.summarizer
                if isinstance(
                    summarizer, ExtractiveSummarizer
                ):  # its ICL embeds the summaries: embed them at once
                    self.backends.text_encoder.encode(
                        sorted(
                            {
                                summaries[layer][n]["highly_summary"]
                                for layer, n in todo
                            }
                        )
                    )
                for layer, neuron in tqdm(
                    todo, desc="ICL", disable=not self.options.progress
                ):
                    summary = summaries[layer][neuron]["highly_summary"]
                    if not summary.strip():  # nothing shared: let the model read the descriptions themselves
                        summary = [
                            descriptions[i]
                            for i in top[layer]["top"][neuron].tolist()
                        ]
                    concept = summarizer.choose_concept(
                        summary, self.concepts, self.options.icl_examples
                    )
                    partial.append(
                        {"layer": layer, "neuron": neuron, "concept": concept}
                    )
            partial.close()
            widths = {
                layer: max(neurons) + 1
                for layer, neurons in summaries.items()
                if neurons
            }
            atomic_write_json(
                self.path("closed_icl.json"),
                {
                    "concepts": self.concepts,
                    "layers": self._by_layer(partial.records, widths),
                },
            )
            partial.close(remove=True)
        return {
            layer: {n: r["concept"] for n, r in neurons.items()}
            for layer, neurons in self._int_keys(
                _read_json(self.path("closed_icl.json"))["layers"]
            ).items()
        }

    def last_layer_accuracy(self, widths, closed):
        """``({method: top-1}, {method: top-5})`` on the output layer (neurons of classes outside the concept set
        are left out)."""
        layer = self.options.output_layer
        if layer not in widths:
            logger.warning(
                "output layer %r is not dissected: no last-layer accuracy",
                layer,
            )
            return {}, {}
        truth = self.true_classes(widths[layer])
        if not any(truth):
            logger.warning(
                "no output class of the model is in the concept set: no last-layer accuracy"
            )
            return {}, {}
        top1, top5 = {}, {}
        for method, scores in closed.items():
            if scores is None or layer not in scores:
                continue
            if method == "ICL":
                answers = scores[layer]
                ranked = [
                    [answers[n]] if n in answers else []
                    for n in range(widths[layer])
                ]
            else:
                ranked = rank_concepts(scores[layer], self.concepts, top=5)
            top1[method] = last_layer_accuracy(ranked, truth, k=1)
            top5[method] = last_layer_accuracy(ranked, truth, k=5)
        return top1, top5
