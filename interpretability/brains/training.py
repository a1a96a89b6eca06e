"""The classifier training run shared by the ``train_classifier.py`` recipes of every dataset."""

import logging
import os

import speechbrain as sb
from interpretability.brains.classifier import ClassifierBrain
from interpretability.classifiers.io import export_classifier
from interpretability.data.pipelines import classification_datasets
from interpretability.errors import InputError
from speechbrain.utils.distributed import if_main_process

logger = logging.getLogger(__name__)


def train_classifier(hparams, run_opts, manifests):
    """Fit, test on the best checkpoint and export it to ``<output_folder>/classifier/``.

    Arguments
    ---------
    hparams : dict
        Loaded recipe hparams (``classifier``: a callable taking ``n_classes``, or a built model; ``n_classes``
        (null: from the data), ``opt_class``, ``checkpointer``, ``epoch_counter``, ``clip_seconds``,
        ``multilabel``, loader options, ``pretrained_classifier`` optional: see
        :func:`~interpretability.classifiers.pretrained.classifier_for_data`; ``shuffle_labels``: train on the
        training and validation clips with their labels permuted (seeded by ``seed``): the data-randomisation
        model of the sanity check, ``evaluate.py --data_randomisation_classifier``: it trains every epoch and its
        last epoch is tested and exported, as no validation metric can choose among models of permuted labels; its
        test accuracy is chance).
    run_opts : dict
    manifests : dict
        ``{"train", "valid", "test": json path, "classes": [names]}`` from data preparation.

    Returns
    -------
    (ClassifierBrain, test stats dict)
    """
    from interpretability.classifiers.pretrained import classifier_for_data
    from interpretability.data.manifest import shuffled_label_manifest

    classes = manifests["classes"]
    if hparams.get("shuffle_labels", False):
        manifests = dict(manifests)
        for split in ("train", "valid"):
            manifests[split] = shuffled_label_manifest(
                manifests[split],
                os.path.join(
                    os.path.dirname(manifests[split]),
                    f"{split}_shuffled_labels.json",
                ),
                seed=hparams.get("seed", 0),
            )
        logger.info("Labels of the training and validation clips shuffled")
    classifier = classifier_for_data(hparams, classes)
    hparams["classifier"] = classifier
    if "classifier" not in hparams["checkpointer"].recoverables:
        hparams["checkpointer"].add_recoverable("classifier", classifier)
    logger.info(
        "Classifier with %d outputs, one per class of the data",
        classifier.n_classes,
    )

    datasets = classification_datasets(
        manifests,
        hparams["clip_seconds"],
        multilabel=hparams.get("multilabel", False),
        with_clean=False,
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
    shuffled = hparams.get("shuffle_labels", False)
    brain.evaluate(
        datasets["test"],
        max_key=None
        if shuffled
        else brain.selection_metric,  # None: the latest checkpoint
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


def layer_channels(classifier, clip_seconds, layers=None, sample_rate=16000):
    """``{layer: channels}`` of the classifier's interpretable hidden representations (shallow first), or of the
    ``layers`` named (a subset of ``classifier.interpretable_layers``; an unknown name is an error)."""
    import torch

    from interpretability.spectral import STFTConfig

    frames = STFTConfig().num_frames(int(clip_seconds * sample_rate))
    with torch.no_grad():
        was_training = classifier.training
        _, hidden = classifier.eval().forward_with_hidden(
            torch.zeros(1, frames, STFTConfig().n_freqs)
        )
        classifier.train(was_training)
    channels = {name: int(h.shape[1]) for name, h in hidden.items()}
    if layers:
        unknown = [name for name in layers if name not in channels]
        if unknown:
            raise InputError(
                f"the classifier has no interpretable layer {unknown}; it has {list(channels)}"
            )
        channels = {name: channels[name] for name in channels if name in layers}
    return channels


def load_explained_classifier(hparams, manifests):
    """Load ``--pretrained_classifier`` (an exported folder or its run folder, a hub id, SpeechBrain's published
    CNN14 layout or a PANNs checkpoint) and check it was trained on the classes of this data.

    Returns ``(classifier, folder of its exported copy)``: the folder interpreters copy into their own.
    """
    from interpretability.classifiers.pretrained import (
        check_classifier_classes,
        load_pretrained_classifier,
    )

    source = hparams.get("pretrained_classifier")
    if not source:
        raise InputError(
            "no classifier to explain: pass --pretrained_classifier (the classifier/ folder exported by "
            "train_classifier.py, a hub id, a SpeechBrain CNN14 folder or a PANNs .pth checkpoint)"
        )
    classifier, description, folder = load_pretrained_classifier(
        source,
        savedir=os.path.join(hparams["save_folder"], "classifier"),
        classes=manifests["classes"],
    )
    check_classifier_classes(
        source,
        description["classes"],
        manifests["classes"],
        hparams.get("data_folder", hparams["save_folder"]),
    )
    return classifier, folder


def train_lmac(hparams, run_opts, manifests):
    """Train (or fine-tune) an L-MAC decoder, test its best checkpoint and export ``<output_folder>/interpreter/``.

    hparams: ``decoder`` (a partial taking ``layer_channels``), ``pretrained_classifier``,
    ``pretrained_interpreter`` (optional: the decoder to start from, for L-MAC FT), ``contaminant_folder``
    (optional), the :class:`~interpretability.brains.lmac.LMACBrain` options, loaders, ``epoch_counter``,
    ``checkpointer``.
    """
    from interpretability.brains.lmac import LMACBrain
    from interpretability.data.mixtures import ContaminantBank
    from interpretability.inference import export_interpreter, load_decoder

    classifier, classifier_source = load_explained_classifier(
        hparams, manifests
    )
    if hparams.get("pretrained_interpreter"):
        from interpretability.evaluation.explainers import check_same_classifier
        from interpretability.interpreters.io import interpreter_folder

        check_same_classifier(
            classifier,
            classifier_source,
            interpreter_folder(hparams["pretrained_interpreter"]),
        )
        decoder, description = load_decoder(hparams["pretrained_interpreter"])
        reads = dict(description["decoder"].get("layer_channels") or {})
        channels = layer_channels(classifier, hparams["clip_seconds"])
        if any(channels.get(name) != width for name, width in reads.items()):
            raise InputError(
                f"{hparams['pretrained_interpreter']}: its decoder reads layers {reads}, this "
                f"classifier has {channels}"
            )
        decoder.train()
        logger.info(
            "Fine-tuning the decoder of %s", hparams["pretrained_interpreter"]
        )
    else:
        n_masks = classifier.n_classes if classifier.multilabel else 1
        channels = layer_channels(
            classifier, hparams["clip_seconds"], hparams.get("decoder_layers")
        )
        decoder = hparams["decoder"](layer_channels=channels, n_masks=n_masks)
    if hparams.get("guidance_weight", 0) > 0 and classifier.multilabel:
        from interpretability.brains.lmac import MISSING_CLEAN_BY_CLASS
        from interpretability.data.pipelines import has_key

        if not has_key(manifests["train"], "clean_by_class"):
            raise InputError(f"{manifests['train']}: {MISSING_CLEAN_BY_CLASS}")
    hparams["checkpointer"].add_recoverable("decoder", decoder)
    if hparams.get("contaminant_folder"):
        hparams["contaminants"] = ContaminantBank(
            hparams["contaminant_folder"],
            num_samples=int(hparams["clip_seconds"] * 16000),
            seed=hparams["seed"],
        )
    hparams["classes"] = manifests["classes"]

    method = "lmac_ft" if hparams.get("guidance_weight", 0) > 0 else "lmac"

    def export():
        export_interpreter(
            os.path.join(hparams["output_folder"], "interpreter"),
            decoder,
            decoder.config,
            classifier_source,
            mask_domain=hparams.get("mask_domain", "linear"),
            method=method,
            extra={"training": training_settings(hparams, LMAC_SETTINGS)},
        )

    brain = fit_and_test_interpreter(
        LMACBrain,
        classifier,
        {"decoder": decoder},
        hparams,
        run_opts,
        manifests,
        export,
    )
    return brain, brain.test_stats


LMAC_SETTINGS = (
    "l_in",
    "l_out",
    "l_1",
    "l_tv",
    "lr",
    "batch_size",
    "number_of_epochs",
    "contaminant_prob",
    "contaminant_snr_db",
    "time_shift",
    "gain_db",
    "noise_prob",
    "noise_snr_db",
    "guidance_weight",
)
L2I_SETTINGS = ("alpha", "beta", "lr", "batch_size", "number_of_epochs")


def training_settings(hparams, keys):
    """The settings an interpreter was trained with, saved in its export (the sanity check by retraining trains
    it again with them): ``{key: value}`` of the ``keys`` present, ``number_of_epochs`` as ``epochs``."""
    settings = {
        ("epochs" if key == "number_of_epochs" else key): hparams[key]
        for key in keys
        if key in hparams
    }
    return {
        key: (float(v) if isinstance(v, float) else v)
        for key, v in settings.items()
    }


def fit_and_test_interpreter(
    brain_class, classifier, modules, hparams, run_opts, manifests, export
):
    """What every interpreter recipe shares once its modules are built: make the Brain, fit it on the train /
    valid splits, test the checkpoint that is best on ``checkpoint_key`` (``checkpoint_mode`` min or max; default
    the validation loss) and, on the main process, call ``export()``.

    Arguments
    ---------
    brain_class : an :class:`~interpretability.brains.interpreter.InterpreterBrain` subclass.
    classifier : the frozen classifier it explains.
    modules : dict, the trainable modules (already registered with ``hparams["checkpointer"]``).
    hparams : dict with ``opt_class``, ``checkpointer``, ``epoch_counter``, ``clip_seconds``, loader options.
    run_opts : dict
    manifests : dict, ``{"train", "valid", "test", "classes"}`` from data preparation.
    export : callable without arguments, writes the trained interpreter.

    Returns
    -------
    The Brain (its ``test_stats`` hold the test metrics).
    """
    datasets = classification_datasets(
        manifests, hparams["clip_seconds"], multilabel=classifier.multilabel
    )
    brain = brain_class(
        classifier,
        modules=modules,
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
    key = hparams.get("checkpoint_key", "loss")
    best = (
        {"min_key": key}
        if hparams.get("checkpoint_mode", "min") == "min"
        else {"max_key": key}
    )
    brain.evaluate(
        datasets["test"],
        test_loader_kwargs=hparams["valid_dataloader_opts"],
        **best,
    )
    if if_main_process():
        export()
    sb.utils.distributed.ddp_barrier()
    return brain
