"""Sanity checks that retrain the interpreter (Adebayo et al. 2018), for methods that are *trained* on a classifier.

The cascading check (:mod:`interpretability.evaluation.sanity`) keeps a trained decoder fixed while the classifier is
destroyed under it; a trained interpreter is meant to be trained on the model it explains, so the meaningful test
trains it again:

- **model randomisation**: a new interpreter trained on the classifier with every layer re-initialised;
- **data randomisation**: a classifier of the same architecture trained on the training split with its labels
  shuffled, and a new interpreter trained on it;
- **retraining control**: a new interpreter trained on the *trained* classifier with another seed and the same
  budget, which says how far two trainings of the method agree when the model is the same.

Each new interpreter explains the same rows (the original decision), and its masks are compared with the original
interpreter's by their Spearman rank correlation. A method that explains the model gives correlations under the
two randomisations well below its retraining control; one that has learned a property of the input (an energy
detector) stays as correlated as the control. ``input_energy`` (the rank correlation of a method's masks with the
input's magnitude) says how much of any correlation the clip's energy alone explains. Gradient baselines need no training: their "retraining" is simply
the randomised or shuffled-label classifier.
"""

import copy
import functools
import json
import logging
import os

import torch

from interpretability.classifiers.base import build_classifier
from interpretability.data.manifest import shuffled_label_manifest
from interpretability.errors import InputError
from interpretability.evaluation.sanity import (
    randomised_classifiers,
    rebind_view,
)
from interpretability.metrics.sanity import mask_rank_correlation
from interpretability.metrics.stats import MetricCollector
from interpretability.results import atomic_torch_save, atomic_write_json
from speechbrain.dataio.dataset import FilteredSortedDynamicItemDataset

logger = logging.getLogger(__name__)

# What an interpreter export holds under "training" (train_lmac.py / train_l2i.py); these are the fallbacks.
LMAC_TRAINING = {
    "l_in": 4.0,
    "l_out": 0.2,
    "l_1": 6.4,
    "l_tv": 0.0,
    "lr": 1e-3,
    "batch_size": 16,
    "epochs": 10,
    "contaminant_prob": 0.5,
    "contaminant_snr_db": 0.0,
    "time_shift": False,
    "gain_db": 0.0,
    "noise_prob": 0.0,
    "noise_snr_db": [0.0, 20.0],
}
L2I_TRAINING = {
    "alpha": 10.0,
    "beta": 0.8,
    "lr": 1e-3,
    "batch_size": 16,
    "epochs": 10,
}
CLASSIFIER_TRAINING = {
    "lr": 1e-3,
    "batch_size": 16,
    "label_smoothing": 0.05,
    "augment": True,
}


def _brain_options(device, precision="fp32"):
    """Run options of the sanity check's trainings: ``precision`` is SpeechBrain's training precision (fp32,
    bf16, fp16); evaluation stays fp32."""
    return {"device": device, "noprogressbar": True, "precision": precision}


def train_shuffled_classifier(
    classifier,
    manifests,
    clip_seconds,
    folder,
    epochs,
    seed=0,
    device="cpu",
    training=None,
    precision="fp32",
):
    """A classifier of ``classifier``'s architecture trained for ``epochs`` on the training split with shuffled
    labels (data randomisation). Returns it in eval mode."""
    from interpretability.brains.classifier import ClassifierBrain
    from interpretability.data.pipelines import classification_datasets

    settings = {**CLASSIFIER_TRAINING, **(training or {})}
    shuffled = dict(
        manifests,
        train=shuffled_label_manifest(
            manifests["train"],
            os.path.join(folder, "train_shuffled_labels.json"),
            seed,
        ),
    )
    datasets = classification_datasets(
        shuffled,
        clip_seconds,
        multilabel=classifier.multilabel,
        with_clean=False,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_classifier(**classifier.config)
    hparams = {
        "multilabel": classifier.multilabel,
        "augment": settings["augment"],
        "label_smoothing": settings["label_smoothing"],
        "classifier": model,
    }
    brain = ClassifierBrain(
        modules={"classifier": model},
        hparams=hparams,
        run_opts=_brain_options(device, precision),
        opt_class=functools.partial(torch.optim.Adam, lr=settings["lr"]),
    )
    brain.distributed_launch = (
        False  # under torchrun only the main process runs the sanity check
    )
    with torch.random.fork_rng(
        devices=[]
    ):  # its augmentation draws from the seed, not from what ran before
        torch.manual_seed(seed)
        brain.fit(
            range(1, int(epochs) + 1),
            datasets["train"],
            train_loader_kwargs={
                "batch_size": settings["batch_size"],
                "shuffle": True,
            },
        )
    return model.eval().requires_grad_(False)


def _fresh_interpreter(method, description, interpreter):
    """An untrained interpreter of the same configuration as ``interpreter`` (an L-MAC decoder or L2I, whose
    dictionary stays: it is learned from the data alone, not from the classifier)."""
    if method == "l2i":
        from interpretability.interpreters.l2i import (
            L2IInterpreter,
            L2IPsi,
            L2ITheta,
        )

        config = description["decoder"]
        return L2IInterpreter(
            L2IPsi(**config["psi"]),
            L2ITheta(**config["theta"]),
            interpreter.dictionary.cpu(),
            domain=config["domain"],
            tau=config["tau"],
            eps=config["eps"],
        )
    from interpretability.interpreters.lmac import LMACDecoder

    return LMACDecoder(**description["decoder"])


def train_interpreter(
    method,
    description,
    interpreter,
    classifier,
    dataset,
    seed,
    device="cpu",
    epochs=None,
    mask_domain="linear",
    precision="fp32",
):
    """Train a fresh interpreter of ``interpreter``'s configuration on ``classifier`` (frozen) over ``dataset``
    with the training settings its export recorded (``description["training"]``; ``epochs`` overrides theirs).
    Returns the trained interpreter in eval mode."""
    from interpretability.brains.l2i import L2IBrain
    from interpretability.brains.lmac import LMACBrain

    defaults = L2I_TRAINING if method == "l2i" else LMAC_TRAINING
    settings = {**defaults, **(description.get("training") or {})}
    epochs = int(epochs or settings["epochs"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        fresh = _fresh_interpreter(method, description, interpreter)
    hparams = {
        **settings,
        "mask_domain": mask_domain,
        "guidance_weight": 0.0,
        "seed": seed,
    }
    brain_class, name = (
        (L2IBrain, "interpreter") if method == "l2i" else (LMACBrain, "decoder")
    )
    brain = brain_class(
        classifier,
        modules={name: fresh},
        hparams=hparams,
        run_opts=_brain_options(device, precision),
        opt_class=functools.partial(torch.optim.Adam, lr=settings["lr"]),
    )
    brain.distributed_launch = (
        False  # under torchrun only the main process runs the sanity check
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        brain.fit(
            range(1, epochs + 1),
            dataset,
            train_loader_kwargs={
                "batch_size": int(settings["batch_size"]),
                "shuffle": True,
            },
        )
    return fresh.eval().requires_grad_(False)


class _InputEnergy:
    """The input's own magnitude as a "mask": how far a method's masks just follow the energy of the clip."""

    def explain(self, view):
        return view.magnitude


def _correlation(originals, explainer, views):
    """Mean rank correlation of ``explainer``'s masks on ``views`` with the masks ``originals`` (NaN rows out)."""
    collector = MetricCollector(median_keys=())
    for index, (view, before) in enumerate(zip(views, originals)):
        after = explainer.explain(view).detach()
        correlation = mask_rank_correlation(before, after)
        collector.append(
            [f"{index}:{row}" for row in range(len(correlation))],
            rank_corr=correlation,
        )
    return collector.summarize().get("rank_corr", float("nan"))


def retrained_sanity(
    classifier,
    explainers,
    trained,
    views,
    manifests,
    clip_seconds,
    folder,
    epochs=None,
    classifier_epochs=20,
    max_clips=None,
    seed=0,
    device="cpu",
    precision="fp32",
    shuffled=None,
    shuffled_source=None,
):
    """Model and data randomisation with retraining, and the retraining control.

    Arguments
    ---------
    classifier : the trained classifier (eval mode).
    explainers : ``{name: explainer}`` of the comparison (gradient baselines are re-bound to the other
        classifiers with ``with_classifier``; trained interpreters are retrained).
    trained : ``{name: (method, description, interpreter, mask_domain)}`` of the trained interpreters.
    views : ClipViews of the rows to explain, built on ``classifier``.
    manifests : the data preparation's manifests (the training split trains every new model).
    folder : where the shuffled-label manifest is written.
    epochs : interpreter training epochs (None: each interpreter's own, from its export).
    classifier_epochs : epochs of the shuffled-label classifier.
    max_clips : train the new models on a seeded subset of this many training clips (None: all).
    precision : training precision of the new models (SpeechBrain's ``--precision``; evaluation stays fp32).
    shuffled : the data-randomisation classifier, already trained on shuffled labels (``train_classifier.py
        --shuffle_labels True``), of ``classifier``'s architecture; None: trained here for ``classifier_epochs``.
    shuffled_source : where ``shuffled`` was loaded from, named in the error when its architecture differs.

    Returns
    -------
    ``{name: {"model_randomisation": r, "data_randomisation": r, "retrain_control": r, "input_energy": r}}`` (mean
    rank correlation with the original masks; no control for the baselines, which are deterministic;
    ``input_energy``: the original masks against the input's magnitude, how far they just follow its energy).
    """
    from interpretability.data.pipelines import classification_datasets
    from interpretability.evaluation.explainers import TrainedExplainer

    os.makedirs(folder, exist_ok=True)
    dataset = classification_datasets(
        manifests,
        clip_seconds,
        multilabel=classifier.multilabel,
        with_clean=False,
    )["train"]
    if max_clips and max_clips < len(dataset):
        keep = torch.randperm(
            len(dataset), generator=torch.Generator().manual_seed(seed)
        )[: int(max_clips)]
        dataset = FilteredSortedDynamicItemDataset(
            dataset, [dataset.data_ids[i] for i in sorted(keep.tolist())]
        )
    *_, (_, randomised) = randomised_classifiers(classifier, None, seed)
    if shuffled is not None and dict(shuffled.config) != dict(
        classifier.config
    ):
        raise InputError(
            f"{shuffled_source or 'the data-randomisation classifier'}: not of the explained classifier's "
            "architecture: "
            f"{shuffled.config} vs {classifier.config}"
        )
    cache = ModelCache(
        folder,
        dict(
            classifier=_fingerprint(classifier),
            clips=list(dataset.data_ids),
            classifier_epochs=classifier_epochs
            if shuffled is None
            else {"given": _fingerprint(shuffled)},
            epochs=epochs,
            seed=seed,
            **({"precision": precision} if precision != "fp32" else {}),
            trained={
                name: [entry[0], _fingerprint(entry[2]), entry[3]]
                for name, entry in trained.items()
            },
        ),
    )
    if shuffled is not None:
        shuffled = copy.deepcopy(shuffled)
    elif not cache.load(
        "shuffled_classifier", shuffled := copy.deepcopy(classifier)
    ):
        logger.info(
            "Sanity by retraining: a classifier on shuffled labels (%d epochs)",
            classifier_epochs,
        )
        shuffled = train_shuffled_classifier(
            classifier,
            manifests,
            clip_seconds,
            folder,
            classifier_epochs,
            seed,
            device,
            precision=precision,
        )
        cache.save("shuffled_classifier", shuffled)
    shuffled = shuffled.eval().requires_grad_(False)
    models = {"model_randomisation": randomised, "data_randomisation": shuffled}
    rebound = {
        key: [rebind_view(view, model) for view in views]
        for key, model in models.items()
    }
    results = {}
    for name, explainer in explainers.items():
        originals = [explainer.explain(view).detach() for view in views]
        entry = {"input_energy": _correlation(originals, _InputEnergy(), views)}
        if name in trained:
            method, description, interpreter, domain = trained[name]
            runs = {
                "retrain_control": (classifier, views),
                **{k: (models[k], rebound[k]) for k in models},
            }
            for offset, (key, (model, key_views)) in enumerate(
                runs.items(), start=1
            ):
                new = _fresh_interpreter(method, description, interpreter)
                if cache.load(f"{name}_{key}", new):
                    new = new.eval().requires_grad_(False)
                else:
                    logger.info("Sanity by retraining: %s, %s", name, key)
                    new = train_interpreter(
                        method,
                        description,
                        interpreter,
                        model,
                        dataset,
                        seed + offset,
                        device,
                        epochs,
                        domain,
                        precision,
                    )
                    cache.save(f"{name}_{key}", new)
                entry[key] = _correlation(
                    originals, TrainedExplainer(new, domain), key_views
                )
        elif hasattr(explainer, "with_classifier"):
            for key, model in models.items():
                entry[key] = _correlation(
                    originals, explainer.with_classifier(model), rebound[key]
                )
        else:
            continue
        results[name] = entry
    return results


def _fingerprint(module):
    from interpretability.evaluation.comparison import fingerprint

    return fingerprint(module)


class ModelCache:
    """The models the sanity check trains, saved in ``folder`` as they are trained (``<name>.ckpt``, atomically), so
    a killed comparison does not train them again. ``key`` (what they depend on: the classifier and interpreters,
    the training clips, epochs, seed) is saved in ``models.json``; models of another key are not used."""

    def __init__(self, folder, key):
        self.folder = folder
        self.key = json.loads(json.dumps(key, default=str))
        self.key_path = os.path.join(folder, "models.json")
        saved = None
        if os.path.isfile(self.key_path):
            try:
                with open(self.key_path, encoding="utf-8") as handle:
                    saved = json.load(handle)
            except (OSError, ValueError):
                saved = None
        self.valid = saved == self.key
        if not self.valid:
            for entry in os.listdir(folder):
                if entry.endswith(".ckpt"):
                    os.remove(os.path.join(folder, entry))
            atomic_write_json(self.key_path, self.key)

    def load(self, name, module):
        """Load the cached ``name`` into ``module``; False when there is none."""
        path = os.path.join(self.folder, f"{name}.ckpt")
        if not self.valid or not os.path.isfile(path):
            return False
        try:
            module.load_state_dict(
                torch.load(path, map_location="cpu", weights_only=True)
            )
        except Exception as err:  # noqa: BLE001 - an unreadable cache entry is trained again
            logger.warning(
                "%s: unreadable cached model (%s); training it again", path, err
            )
            return False
        logger.info(
            "Sanity by retraining: %s trained in an earlier run, reused", name
        )
        return True

    def save(self, name, module):
        atomic_torch_save(
            os.path.join(self.folder, f"{name}.ckpt"),
            {k: v.detach().cpu() for k, v in module.state_dict().items()},
        )
