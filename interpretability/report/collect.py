"""Find what a results folder holds: the demo's folder of runs, or the output folder of one recipe run.

Every part is optional; :func:`discover` reports the parts it recognises by their files, not by their folder
names (a folder is an interpreter run when it holds ``interpreter/decoder.ckpt``, a comparison when it holds
``comparison.json``, ...), so ``results/lmac_cnn6/1986`` and ``results/demo`` are read the same way.
"""

import glob
import json
import logging
import os
from dataclasses import dataclass, field

import yaml

from interpretability.errors import DataError, InputError

logger = logging.getLogger(__name__)

TRAINED_ORDER = ("lmac", "lmac_ft", "l2i")
NAMES = {
    "lmac": "L-MAC",
    "lmac_ft": "L-MAC FT",
    "l2i": "L2I",
    "classifier": "classifier",
    "nmf": "NMF dictionary",
    "and": "AND",
    "comparison": "comparison",
}


def read_json(path):
    """The JSON in ``path``; a malformed file raises :class:`DataError` naming it."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as err:
        raise DataError(
            f"{path}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})"
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot be read ({err})") from None


def _read_metrics(folder):
    path = os.path.join(folder, "test_metrics.json")
    if not os.path.isfile(path):
        return None
    data = read_json(path)
    if not isinstance(data, dict):
        raise DataError(
            f"{path}: expected a JSON object of metrics, got {type(data).__name__}"
        )
    return data


def run_folder(folder):
    """The run folder of an interpreter: ``folder`` itself, or its parent when ``folder`` is the ``interpreter/``
    export (it holds ``decoder.ckpt``)."""
    folder = os.path.abspath(folder)
    if os.path.isfile(os.path.join(folder, "decoder.ckpt")):
        return os.path.dirname(folder)
    return folder


def _interpreter_method(folder):
    path = os.path.join(folder, "interpreter", "hyperparams.yaml")
    try:
        with open(path, encoding="utf-8") as handle:
            return (yaml.safe_load(handle) or {}).get("method", "lmac")
    except (OSError, yaml.YAMLError) as err:
        raise DataError(
            f"{path}: cannot read the interpreter description ({err})"
        ) from None


@dataclass
class ResultsFolder:
    """The parts of a results folder; every attribute may be empty.

    ``interpreters``: ``{method: run folder}`` (``lmac``, ``lmac_ft``, ``l2i``, or the folder name for more runs of
    one method); ``metrics``: ``{part: test_metrics dict}`` for ``classifier``, the interpreters and ``nmf``;
    ``manifests``: test-split manifests (``save/test.json``) of the runs, the first one used for the clips.
    """

    root: str
    single_run: bool = False
    classifier_dir: str = None
    interpreters: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    and_folder: str = None
    and_metrics: dict = None
    comparison: dict = None
    comparison_folder: str = None
    margins: dict = None
    manifests: list = field(default_factory=list)
    parts: dict = field(default_factory=dict)

    @property
    def empty(self):
        return not self.parts

    def classifier_source(self):
        """The exported classifier the models explain: the classifier run's export, else the copy inside the first
        interpreter folder."""
        if self.classifier_dir:
            return self.classifier_dir
        for name in self.interpreters:
            copy = os.path.join(
                self.interpreters[name], "interpreter", "classifier"
            )
            if os.path.isfile(os.path.join(copy, "model.ckpt")):
                return copy
        return None


def _kind(folder):
    """What recipe run ``folder`` is the output of, or None."""
    if os.path.isfile(os.path.join(folder, "comparison.json")):
        return "comparison"
    if glob.glob(os.path.join(folder, "neurons_*.json")):
        return "and"
    if os.path.isfile(os.path.join(folder, "interpreter", "decoder.ckpt")):
        return "interpreter"
    if os.path.isfile(os.path.join(folder, "classifier", "model.ckpt")):
        # train_classifier.py --shuffle_labels True: the sanity check's data randomisation, not the explained model
        shuffled = os.path.join(folder, "save", "train_shuffled_labels.json")
        return (
            "shuffled_classifier" if os.path.isfile(shuffled) else "classifier"
        )
    if os.path.isfile(os.path.join(folder, "nmf", "dictionary.pt")):
        return "nmf"
    metrics = os.path.join(folder, "test_metrics.json")
    if os.path.isfile(metrics):
        data = _read_metrics(folder) or {}
        if "last_layer_top1" in data or "pruning" in data:
            return "and"
        if "relative_error" in data:
            return "nmf"
        if "acc" in data:
            return "classifier"
    return None


def _add(results, kind, folder):
    if kind == "comparison":
        results.comparison = read_json(os.path.join(folder, "comparison.json"))
        if not isinstance(results.comparison, dict):
            raise DataError(
                f"{os.path.join(folder, 'comparison.json')}: expected a JSON object"
            )
        results.comparison_folder = folder
        margins = os.path.join(folder, "margins.json")
        results.margins = (
            read_json(margins) if os.path.isfile(margins) else None
        )
        results.parts["comparison"] = folder
    elif kind == "and":
        results.and_folder = folder
        results.and_metrics = _read_metrics(folder)
        results.parts["and"] = folder
    elif kind == "interpreter":
        method = _interpreter_method(folder)
        name = (
            method
            if method not in results.interpreters
            else os.path.basename(os.path.normpath(folder))
        )
        results.interpreters[name] = folder
        results.metrics[name] = _read_metrics(folder)
        results.parts[name] = folder
    elif kind == "classifier":
        export = os.path.join(folder, "classifier")
        results.classifier_dir = (
            export
            if os.path.isfile(os.path.join(export, "model.ckpt"))
            else None
        )
        results.metrics["classifier"] = _read_metrics(folder)
        results.parts["classifier"] = folder
    elif kind == "nmf":
        results.metrics["nmf"] = _read_metrics(folder)
        results.parts["nmf"] = folder
    elif kind == "shuffled_classifier":
        results.parts["shuffled-label classifier"] = folder
        return
    manifest = os.path.join(folder, "save", "test.json")
    if os.path.isfile(manifest) and manifest not in results.manifests:
        results.manifests.append(manifest)


def discover(results_dir, classifier=None, interpreters=None):
    """The :class:`ResultsFolder` of ``results_dir`` (a folder of runs, like the demo's, or one run's output).

    ``classifier`` (an exported classifier folder) and ``interpreters`` (``{name: run or interpreter folder}``) add
    models kept elsewhere, e.g. the ``--pretrained_*`` folders of an ``evaluate.py`` run.
    """
    root = os.path.abspath(results_dir)
    if not os.path.isdir(root):
        raise InputError(f"{results_dir}: no such results folder")
    results = ResultsFolder(root)
    kind = _kind(root)
    if kind is not None:
        results.single_run = True
        _add(results, kind, root)
    else:
        for entry in sorted(os.listdir(root)):
            folder = os.path.join(root, entry)
            if os.path.isdir(folder) and entry != "report":
                sub = _kind(folder)
                if sub is not None:
                    _add(results, sub, folder)
    if classifier:
        if not os.path.isfile(os.path.join(classifier, "model.ckpt")):
            raise InputError(
                f"{classifier}: not an exported classifier (no model.ckpt in it)"
            )
        results.classifier_dir = os.path.abspath(classifier)
    for name, folder in (interpreters or {}).items():
        folder = run_folder(folder)
        if not os.path.isfile(
            os.path.join(folder, "interpreter", "decoder.ckpt")
        ):
            raise InputError(
                f"{folder}: no trained interpreter (interpreter/decoder.ckpt) in it"
            )
        results.interpreters[name] = folder
        results.metrics.setdefault(name, _read_metrics(folder))
        results.parts.setdefault(name, folder)
    order = {name: i for i, name in enumerate(TRAINED_ORDER)}
    results.interpreters = dict(
        sorted(
            results.interpreters.items(), key=lambda kv: order.get(kv[0], 99)
        )
    )
    # the classifier run's manifest first: its test split is the one every later run evaluates
    results.manifests.sort(
        key=lambda path: 0
        if results.parts.get("classifier")
        and path.startswith(results.parts["classifier"] + os.sep)
        else 1
    )
    logger.info(
        "report: %s holds %s",
        root,
        ", ".join(results.parts) or "no recognised results",
    )
    return results
