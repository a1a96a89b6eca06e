"""The classifier training run shared by the ``train_classifier.py`` recipes of every dataset."""
import logging
import os

import speechbrain as sb
from speechbrain.utils.distributed import if_main_process

from interpretability.brains.classifier import ClassifierBrain
from interpretability.classifiers.io import export_classifier, load_classifier
from interpretability.data.pipelines import classification_datasets
from interpretability.errors import InputError

logger = logging.getLogger(__name__)


def train_classifier(hparams, run_opts, manifests):
    """Fit, test on the best checkpoint and export it to ``<output_folder>/classifier/``.

    Arguments
    ---------
    hparams : dict
        Loaded recipe hparams (``classifier``, ``opt_class``, ``checkpointer``, ``epoch_counter``,
        ``clip_seconds``, ``multilabel``, loader options, ``pretrained_classifier`` optional).
    run_opts : dict
    manifests : dict
        ``{"train", "valid", "test": json path, "classes": [names]}`` from data preparation.

    Returns
    -------
    (ClassifierBrain, test stats dict)
    """
    classes = manifests["classes"]
    classifier = hparams["classifier"]
    if len(classes) != classifier.n_classes:
        raise InputError(
            f"{hparams['save_folder']}/classes.json: the data has {len(classes)} classes but the classifier "
            f"was built with n_classes={classifier.n_classes}; pass --n_classes {len(classes)}"
        )
    if hparams.get("pretrained_classifier"):
        pretrained, _ = load_classifier(hparams["pretrained_classifier"], savedir=os.path.join(
            hparams["save_folder"], "pretrained_classifier"))
        classifier.load_state_dict(pretrained.state_dict())
        logger.info("Initialised the classifier from %s", hparams["pretrained_classifier"])

    datasets = classification_datasets(
        manifests, hparams["clip_seconds"], multilabel=hparams.get("multilabel", False), with_clean=False
    )
    brain = ClassifierBrain(
        modules={"classifier": classifier},
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
    )
    brain.fit(
        hparams["epoch_counter"],
        datasets["train"],
        datasets["valid"],
        train_loader_kwargs=hparams["train_dataloader_opts"],
        valid_loader_kwargs=hparams["valid_dataloader_opts"],
    )
    brain.evaluate(
        datasets["test"],
        max_key=brain.selection_metric,
        test_loader_kwargs=hparams["valid_dataloader_opts"],
    )
    if if_main_process():
        export_classifier(
            classifier,
            os.path.join(hparams["output_folder"], "classifier"),
            classes,
            clip_seconds=hparams["clip_seconds"],
        )
    sb.utils.distributed.ddp_barrier()
    return brain, brain.test_stats
