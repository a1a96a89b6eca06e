"""Use case: concept-specific pruning against random neurons of the same number, and its summary."""

import logging

import torch

from interpretability.dissection.concepts import rank_concepts
from interpretability.dissection.pruning import random_control, select_neurons
from interpretability.dissection.stages.base import (
    PartialRecords,
    StageBase,
    _diff,
    _mean,
    _plain,
    _read_json,
)
from interpretability.dissection.summarizers import normalize_phrase
from interpretability.errors import InputError
from interpretability.results import atomic_write_json

logger = logging.getLogger(__name__)


class PruningStage(StageBase):
    """Use case: ``pruning.json``."""

    def pruning(self, widths, db, tab, open_concepts, label=None):
        """Use case: ablate the neurons whose concept matches each target, against random neurons of the same size.

        The neurons are chosen on the probing clips (their concepts); the confidence changes are measured on the
        probing clips and, when there are held-out clips, on those too with the same neurons and random controls.
        ``label`` is the label-based dissection's ranked concepts ``{layer: [[concept, ...] per neuron]}``.
        """
        if "pruning" in self.options.skip:
            return None
        targets = (
            self.probing.classes
            if self.options.pruning_targets is None
            else list(self.options.pruning_targets)
        )
        if not targets:
            return None
        if not self._done("pruning.json"):
            layers = self.pruning_layers()
            missing = [layer for layer in layers if layer not in widths]
            if missing:
                raise InputError(
                    f"pruning layers {missing} are not among the dissected layers {list(widths)}"
                )
            sources = {
                "db": (db, self.concepts),
                "tab": (tab, self.concepts),
                "open": (open_concepts, None),
                "label": (label, None),
            }
            partial = PartialRecords(
                self.path("pruning.partial.jsonl"), ("strategy", "target")
            )
            for strategy in self.options.pruning_strategies:
                source, concepts = sources[strategy]
                if source is None:
                    logger.warning(
                        "pruning by %s skipped: that stage did not run",
                        strategy,
                    )
                    continue
                neuron_concepts = self._neuron_concepts(
                    strategy, source, concepts, layers
                )
                # label concepts are the class names themselves: only the same name selects a neuron
                encoder = (
                    None if strategy == "label" else self.backends.text_encoder
                )
                for target in targets:
                    if (strategy, target) in partial:
                        continue
                    selected = select_neurons(
                        neuron_concepts,
                        target,
                        strategy,
                        text_encoder=encoder,
                        threshold=self.options.pruning_match_threshold,
                        top_n=self.options.pruning_top_n,
                    )
                    partial.append(
                        {
                            "strategy": strategy,
                            "target": target,
                            "layers": layers,
                            "selected": selected,
                            **self._pruning_run(
                                target,
                                selected,
                                {layer: widths[layer] for layer in layers},
                            ),
                        }
                    )
            partial.close()
            results = {}
            for (strategy, target), record in partial.records.items():
                results.setdefault(strategy, {})[target] = {
                    k: v
                    for k, v in record.items()
                    if k not in ("strategy", "target")
                }
            atomic_write_json(
                self.path("pruning.json"),
                {
                    "targets": targets,
                    "heldout_ids": self.heldout.ids
                    if self.heldout is not None
                    else None,
                    "strategies": _plain(results),
                },
            )
            partial.close(remove=True)
        data = _read_json(self.path("pruning.json"))
        if data.get("heldout_ids") != (
            self.heldout.ids if self.heldout is not None else None
        ):
            raise InputError(
                f"{self.path('pruning.json')}: measured on other held-out clips; delete it to redo the "
                "pruning, or use another output folder"
            )
        return data["strategies"]

    def pruning_layers(self):
        """``pruning_layers``, or by default the last dissected layer before the output layer."""
        if self.options.pruning_layers:
            return list(self.options.pruning_layers)
        hidden = [
            layer
            for layer in self.options.layers
            if layer != self.options.output_layer
        ]
        if not hidden:
            raise InputError(
                "no hidden layer to prune: add one to 'layers' or give 'pruning_layers'"
            )
        return hidden[-1:]

    def _neuron_concepts(self, strategy, source, concepts, layers):
        if strategy == "open":
            return {layer: source.get(layer, {}) for layer in layers}
        top = max(self.options.pruning_top_n, 1)
        if strategy == "label":
            return {layer: dict(enumerate(source[layer])) for layer in layers}
        return {
            layer: dict(
                enumerate(rank_concepts(source[layer], concepts, top=top))
            )
            for layer in layers
        }

    def _target_labels(self, target, which="probing"):
        """``(output index of the target, {clip id: output index of its own class})`` for the pruning runs, over
        the probing (or held-out) clips.

        Multi-label: a clip where the target is present counts for the target; any other clip for its first present
        class (clips with no present class are left out).
        """
        clips = self.clip_set(which)
        outputs = {
            normalize_phrase(c): i for i, c in enumerate(self.output_classes)
        }
        if normalize_phrase(target) not in outputs:
            return None, {}
        target_output = outputs[normalize_phrase(target)]
        to_output = [outputs.get(normalize_phrase(c)) for c in clips.classes]
        labels = {}
        for clip, label in zip(clips.ids, clips.labels):
            if clips.multilabel:
                present = [
                    to_output[c]
                    for c, v in enumerate(label)
                    if v and to_output[c] is not None
                ]
                own = (
                    target_output
                    if target_output in present
                    else (present[0] if present else None)
                )
            else:
                own = to_output[label]
            if own is not None:
                labels[clip] = own
        return target_output, labels

    def _pruning_run(self, target, selected, widths):
        """Confidence changes on the probing clips (``effect``, ``random``) and, with held-out clips, on those
        (``heldout``: ``effect``, ``random``, ``n_clips``), for the same neurons and the same random controls."""
        target_output, labels = self._target_labels(target)
        n_selected = sum(len(v) for v in selected.values())
        if target_output is None or not labels:
            logger.warning(
                "pruning target %r is no output class of the model: no confidence change measured",
                target,
            )
            return {"n_neurons": n_selected, "effect": None, "random": None}
        if n_selected == 0:
            return {"n_neurons": 0, "effect": None, "random": None}
        exclude = self.options.random_exclude_selected and all(
            2 * len(set(ids)) <= widths[layer]
            for layer, ids in selected.items()
        )
        if self.options.random_exclude_selected and not exclude:
            logger.info(
                "target %r: over half of a layer's neurons selected; the random control draws among all",
                target,
            )
        controls = [
            random_control(
                selected,
                widths,
                seed=self.options.seed + r,
                exclude_selected=exclude,
            )
            for r in range(max(1, self.options.random_repeats))
        ]
        record = {
            "n_neurons": n_selected,
            **self._confidence_changes(
                target_output, labels, selected, controls
            ),
        }
        if self.heldout is not None:
            _, heldout_labels = self._target_labels(target, "heldout")
            if heldout_labels:
                record["heldout"] = {
                    "n_clips": len(heldout_labels),
                    **self._confidence_changes(
                        target_output,
                        heldout_labels,
                        selected,
                        controls,
                        "heldout",
                    ),
                }
        return record

    def _confidence_changes(
        self, target_output, labels, selected, controls, which="probing"
    ):
        """``{"effect", "random"}``: the changes for ``selected`` and the mean over the ``controls``."""
        clips = self.clip_set(which)
        if (
            which not in self._intact
        ):  # the intact model's logits, computed once for every target and control
            self._intact[which] = self._logits(range(len(clips)), which=which)
        indices = [i for i, clip in enumerate(clips.ids) if clip in labels]
        own = torch.tensor([labels[clips.ids[i]] for i in indices])
        intact = self._intact[which][indices]

        def effect(ablation):
            return confidence_changes(
                intact,
                self._logits(indices, ablation, which),
                own,
                target_output,
                self.multilabel,
                n_neurons=sum(len(set(v)) for v in ablation.values()),
            )

        measured = effect(selected)
        changes = [effect(control) for control in controls]
        keys = ("delta_A", "delta_R", "delta_A_logit", "delta_R_logit")
        return {
            "effect": measured,
            "random": {
                **{k: _mean([c[k] for c in changes]) for k in keys},
                "repeats": len(changes),
            },
        }

    @staticmethod
    def pruning_summary(results):
        """Per target and averaged over the targets where neurons were pruned: confidence changes (probabilities
        and logits) for the concept's neurons and for the random control, with ``selectivity = delta_R - delta_A``
        and ``vs_random = delta_A_random - delta_A`` (both > 0 when pruning hits the target class specifically);
        the same on the held-out clips under ``heldout`` where they were measured."""
        per_target = {}
        for target, record in results.items():
            row = {"n_neurons": record["n_neurons"]}
            if record.get("effect"):
                row.update(_changes_row(record["effect"], record["random"]))
                if record.get("heldout"):
                    row["heldout"] = {
                        "n_clips": record["heldout"]["n_clips"],
                        **_changes_row(
                            record["heldout"]["effect"],
                            record["heldout"]["random"],
                        ),
                    }
            per_target[target] = row
        measured = [row for row in per_target.values() if "delta_A" in row]
        keys = [
            k
            for k in (measured[0] if measured else {})
            if k not in ("n_neurons", "heldout")
        ]
        summary = {k: _mean([row[k] for row in measured]) for k in keys}
        summary["n_neurons"] = (
            _mean([row["n_neurons"] for row in measured]) if measured else 0.0
        )
        summary["n_targets"] = len(measured)
        heldout = [row["heldout"] for row in measured if "heldout" in row]
        if heldout:
            summary["heldout"] = {
                k: _mean([row[k] for row in heldout]) for k in heldout[0]
            }
            summary["heldout"]["n_targets"] = len(heldout)
        return summary, per_target


def _changes_row(effect, control):
    """One target's confidence changes, its random control's and the differences of :meth:`pruning_summary`."""
    row = {}
    for key in ("delta_A", "delta_R", "delta_A_logit", "delta_R_logit"):
        row[key] = effect[key]
        row[f"{key}_random"] = control[key]
    row["selectivity"] = _diff(row["delta_R"], row["delta_A"])
    row["vs_random"] = _diff(row["delta_A_random"], row["delta_A"])
    row["selectivity_logit"] = _diff(row["delta_R_logit"], row["delta_A_logit"])
    row["vs_random_logit"] = _diff(
        row["delta_A_logit_random"], row["delta_A_logit"]
    )
    return row


def confidence_changes(
    intact, ablated, own, target, multilabel=False, n_neurons=0
):
    """What :func:`~.pruning.pruning_effect` reports, from logits computed beforehand.

    ``intact``, ``ablated``: logits ``[N, C]``; ``own``: ``[N]`` the class index whose confidence counts for each
    clip; clips with ``own == target`` form group A, the others group R. Returns ``delta_A`` / ``delta_R`` (mean
    change of the own-class probability, ablated minus intact; sigmoid if ``multilabel``, else softmax),
    ``delta_A_logit`` / ``delta_R_logit``, ``n_A``, ``n_R``, ``n_neurons``; means over an empty group are NaN.
    """
    prob = torch.sigmoid if multilabel else (lambda z: torch.softmax(z, dim=-1))
    rows = torch.arange(len(own))
    prob_d = prob(ablated.float())[rows, own] - prob(intact.float())[rows, own]
    logit_d = ablated.float()[rows, own] - intact.float()[rows, own]
    mask = own == int(target)

    def mean(values):
        return float(values.mean()) if values.numel() else float("nan")

    return {
        "delta_A": mean(prob_d[mask]),
        "delta_R": mean(prob_d[~mask]),
        "delta_A_logit": mean(logit_d[mask]),
        "delta_R_logit": mean(logit_d[~mask]),
        "n_A": int(mask.sum()),
        "n_R": int((~mask).sum()),
        "n_neurons": int(n_neurons),
    }
