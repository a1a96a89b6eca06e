"""Export a trained classifier to a folder and load it back from a local path or a hub id.

The folder (``<output_folder>/classifier/``) holds ``hyperparams.yaml`` (plain YAML: the arguments of
:func:`build_classifier`, the class list and the audio settings) and ``model.ckpt`` (the state dict). The same
two files in a Hugging Face repository make it loadable by hub id, through SpeechBrain's ``fetch`` and
``Pretrainer``.
"""

import logging
import os
import re
import tempfile

import torch
import yaml

from interpretability.classifiers.base import build_classifier
from interpretability.errors import CheckpointError
from interpretability.results import atomic_torch_save, atomic_write_text
from speechbrain.utils.fetching import fetch
from speechbrain.utils.parameter_transfer import Pretrainer

logger = logging.getLogger(__name__)

HPARAMS_FILE = "hyperparams.yaml"
MODEL_FILE = "model.ckpt"
# Keys of a description that are not arguments of build_classifier
DESCRIPTION_KEYS = ("classes", "clip_seconds", "sample_rate", "source")


def is_exported_folder(folder):
    """Whether ``folder`` holds an exported classifier (``hyperparams.yaml`` with an ``architecture`` and
    ``model.ckpt``)."""
    path = os.path.join(folder, HPARAMS_FILE)
    if not (
        os.path.isfile(path)
        and os.path.isfile(os.path.join(folder, MODEL_FILE))
    ):
        return False
    try:
        with open(path, encoding="utf-8") as handle:
            head = handle.read(20000)
    except OSError:
        return False
    return any(line.startswith("architecture:") for line in head.splitlines())


# a Hugging Face repository id: "name" or "namespace/name"
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")


def hub_fetch(filename, source, savedir):
    """SpeechBrain's ``fetch`` of one hub file; CheckpointError in one line when it cannot be fetched (offline), or
    at once when ``source`` cannot be a hub id (a path: ``/abs/folder``, ``./run``, ``a/b/c``) and is not there."""
    if not HUB_ID.match(str(source)) or str(source).endswith(
        (".pth", ".pt", ".ckpt")
    ):
        raise CheckpointError(
            f"{source}: no such folder or file (a classifier is an exported folder, a SpeechBrain "
            f"CNN14 folder, a PANNs .pth file or a Hugging Face id 'namespace/name')"
        )
    try:
        return fetch(filename, source=source, savedir=savedir)
    except Exception as err:  # huggingface_hub / requests raise many types; all mean "not fetched"
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        reason = reason.split(". ")[0].rstrip(".")[:200]
        raise CheckpointError(
            f"{source}: no local folder or file of that name, and {filename} cannot be fetched from the Hugging "
            f"Face hub ({type(err).__name__}: {reason}); offline, fetch the repository on a machine with network "
            f"(git clone https://huggingface.co/{source}) and pass its folder as --pretrained_classifier"
        ) from None


def export_classifier(
    model, folder, classes, clip_seconds, sample_rate=16000, extra=None
):
    """Write ``hyperparams.yaml`` and ``model.ckpt`` of a :class:`SpectrogramClassifier` into ``folder``."""
    os.makedirs(folder, exist_ok=True)
    if len(classes) != model.n_classes:
        raise ValueError(
            f"{len(classes)} class names for a model with {model.n_classes} outputs"
        )
    description = dict(model.config)
    description.update(
        classes=list(classes),
        clip_seconds=float(clip_seconds),
        sample_rate=int(sample_rate),
    )
    description.update(extra or {})
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    atomic_torch_save(os.path.join(folder, MODEL_FILE), state)
    atomic_write_text(
        os.path.join(folder, HPARAMS_FILE),
        yaml.safe_dump(description, sort_keys=False),
    )
    logger.info("Exported classifier to %s", folder)
    return folder


def read_checkpoint(path):
    """``torch.load`` of a checkpoint file (weights only, on the CPU); CheckpointError naming the file when it is
    missing, empty, truncated or not a torch file."""
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: checkpoint not found")
    if os.path.getsize(path) == 0:
        raise CheckpointError(
            f"{path}: checkpoint is empty (0 bytes; an interrupted copy or save?)"
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises RuntimeError, EOFError, UnpicklingError, ... for a damaged file
        reason = (
            (str(err).strip().splitlines() or [type(err).__name__])[0]
            .split(". ")[0]
            .rstrip(".")[:160]
        )
        raise CheckpointError(
            f"{path}: unreadable checkpoint, truncated or not a torch file "
            f"({type(err).__name__}: {reason})"
        ) from None


def _read_description(path):
    try:
        with open(path, encoding="utf-8") as handle:
            description = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError) as err:
        raise CheckpointError(
            f"{path}: cannot read classifier description ({err})"
        ) from None
    if not isinstance(description, dict):
        raise CheckpointError(
            f"{path}: not a classifier description (a YAML mapping with architecture, n_classes, "
            f"classes)"
        )
    missing = [
        k
        for k in ("architecture", "n_classes", "classes")
        if k not in description
    ]
    if missing:
        raise CheckpointError(
            f"{path}: not a classifier description (missing {', '.join(missing)})"
        )
    return description


def load_classifier(source, savedir=None, device="cpu"):
    """Load an exported classifier from a folder or a hub id.

    Arguments
    ---------
    source : str
        A local folder written by :func:`export_classifier`, or a Hugging Face repository id holding the
        same files.
    savedir : str, optional
        Where hub files are collected (default: a folder under the system temp dir).
    device : str

    Returns
    -------
    (SpectrogramClassifier in eval mode, description dict with ``classes``, ``clip_seconds``, ...)
    """
    if os.path.isdir(source):
        folder = source
    elif os.path.exists(source):
        raise CheckpointError(
            f"{source}: expected a folder exported by train_classifier.py, got a file"
        )
    else:
        folder = savedir or os.path.join(
            tempfile.gettempdir(),
            "interpretability_hub",
            source.replace("/", "--"),
        )
        hub_fetch(HPARAMS_FILE, source, folder)
    description = _read_description(os.path.join(folder, HPARAMS_FILE))
    build_args = {
        k: v for k, v in description.items() if k not in DESCRIPTION_KEYS
    }
    try:
        model = build_classifier(**build_args)
    except (TypeError, ValueError) as err:
        raise CheckpointError(
            f"{os.path.join(folder, HPARAMS_FILE)}: cannot build the classifier it describes "
            f"({err})"
        ) from None

    checkpoint = os.path.join(folder, MODEL_FILE)
    try:
        if os.path.isdir(source):
            if not os.path.isfile(checkpoint):
                raise CheckpointError(
                    f"{checkpoint}: model checkpoint not found"
                )
            state = read_checkpoint(checkpoint)
            if not isinstance(state, dict):
                raise CheckpointError(f"{checkpoint}: not a state dict")
            model.load_state_dict(state)
        else:
            pretrainer = Pretrainer(
                collect_in=folder,
                loadables={"model": model},
                paths={"model": f"{source}/{MODEL_FILE}"},
            )
            pretrainer.collect_files()
            pretrainer.load_collected()
    except RuntimeError as err:
        lines = [
            line.strip().rstrip(".") for line in str(err).strip().splitlines()
        ]
        detail = "; ".join(lines[1:3]) or lines[0]
        raise CheckpointError(
            f"{checkpoint}: checkpoint does not match the {description['architecture']} classifier "
            f"described in {HPARAMS_FILE} ({detail})"
        ) from None
    return model.to(device).eval(), description
