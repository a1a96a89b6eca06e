"""The interpreter folder: what ``train_lmac.py`` and ``train_l2i.py`` export and every loader reads.

``<output_folder>/interpreter/`` holds ``hyperparams.yaml`` (method, decoder arguments, mask domain, training
settings), ``decoder.ckpt`` (the interpreter's weights) and ``classifier/`` (the exported classifier it explains),
so it is self-contained and can be copied or pushed to a hub as is. This module only writes and finds such
folders; :mod:`interpretability.inference` and :mod:`interpretability.interpreters.l2i` build interpreters from them.
"""

import os
import shutil

import yaml

from interpretability.classifiers.io import HPARAMS_FILE
from interpretability.errors import CheckpointError
from interpretability.results import atomic_torch_save, atomic_write_text

DECODER_FILE = "decoder.ckpt"
CLASSIFIER_FOLDER = "classifier"


def export_interpreter(
    folder,
    decoder,
    decoder_config,
    classifier_folder,
    mask_domain="linear",
    method="lmac",
    extra=None,
):
    """Write an interpreter folder: ``hyperparams.yaml``, ``decoder.ckpt`` and a copy of the classifier.

    Example
    -------
    >>> import tempfile
    >>> from interpretability.classifiers import build_classifier
    >>> from interpretability.classifiers.io import export_classifier
    >>> from interpretability.inference import classifier_layer_channels
    >>> from interpretability.interpreters.lmac import LMACDecoder
    >>> classifier = build_classifier(
    ...     "compact_cnn", n_classes=2, channels=[4, 4, 8, 8]
    ... )
    >>> run = tempfile.mkdtemp()
    >>> _ = export_classifier(
    ...     classifier,
    ...     os.path.join(run, "classifier"),
    ...     ["dog", "rain"],
    ...     clip_seconds=1.0,
    ... )
    >>> decoder = LMACDecoder(
    ...     classifier_layer_channels(classifier),
    ...     width=8,
    ...     min_width=8,
    ...     head_channels=4,
    ... )
    >>> folder = export_interpreter(
    ...     os.path.join(run, "interpreter"),
    ...     decoder,
    ...     decoder.config,
    ...     os.path.join(run, "classifier"),
    ... )
    >>> sorted(os.listdir(folder))
    ['classifier', 'decoder.ckpt', 'hyperparams.yaml']
    """
    os.makedirs(folder, exist_ok=True)
    target = os.path.join(folder, CLASSIFIER_FOLDER)
    if os.path.abspath(classifier_folder) != os.path.abspath(target):
        shutil.copytree(classifier_folder, target, dirs_exist_ok=True)
    description = {
        "method": method,
        "mask_domain": mask_domain,
        "decoder": dict(decoder_config),
    }
    description.update(extra or {})
    atomic_torch_save(
        os.path.join(folder, DECODER_FILE),
        {k: v.cpu() for k, v in decoder.state_dict().items()},
    )
    atomic_write_text(
        os.path.join(folder, HPARAMS_FILE),
        yaml.safe_dump(description, sort_keys=False),
    )
    return folder


def interpreter_folder(path):
    """Accept either an interpreter folder or the output folder of the run that wrote one.

    Example
    -------
    >>> import tempfile
    >>> run = tempfile.mkdtemp()
    >>> os.makedirs(os.path.join(run, "interpreter"))
    >>> open(os.path.join(run, "interpreter", DECODER_FILE), "wb").close()
    >>> interpreter_folder(run) == os.path.join(run, "interpreter")
    True
    """
    for candidate in (path, os.path.join(path, "interpreter")):
        if os.path.isfile(os.path.join(candidate, DECODER_FILE)):
            return candidate
    raise CheckpointError(
        f"{path}: no trained interpreter here (expected {DECODER_FILE} in it or in "
        f"{os.path.join(path, 'interpreter')})"
    )


def read_interpreter_description(folder):
    """The ``hyperparams.yaml`` of an interpreter folder as a dict; CheckpointError naming it when it is missing,
    unreadable or names no method.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> _ = open(os.path.join(folder, HPARAMS_FILE), "w").write(
    ...     "{method: lmac, decoder: {width: 8}}"
    ... )
    >>> read_interpreter_description(folder)
    {'method': 'lmac', 'decoder': {'width': 8}}
    """
    path = os.path.join(folder, HPARAMS_FILE)
    if not os.path.isfile(path):
        raise CheckpointError(
            f"{path}: interpreter description not found (an interpreter folder holds "
            f"{HPARAMS_FILE}, {DECODER_FILE} and {CLASSIFIER_FOLDER}/)"
        )
    try:
        with open(path, encoding="utf-8") as handle:
            description = yaml.safe_load(handle)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise CheckpointError(
            f"{path}: unreadable interpreter description ({reason})"
        ) from None
    if not isinstance(description, dict) or not isinstance(
        description.get("decoder"), dict
    ):
        raise CheckpointError(
            f"{path}: not an interpreter description (no 'decoder' settings in it)"
        )
    return description
