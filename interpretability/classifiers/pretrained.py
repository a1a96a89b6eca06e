"""Published classifiers as ``--pretrained_classifier``, next to the ones ``train_classifier.py`` exports.

:func:`load_pretrained_classifier` accepts

- a folder exported by ``train_classifier.py`` (``hyperparams.yaml`` + ``model.ckpt``), the run folder holding
  it as ``classifier/``, or the hub id of a repository holding those two files;
- SpeechBrain's published classifiers, e.g. ``speechbrain/cnn14-esc50`` (hub id, fetched with SpeechBrain's
  ``fetch``) or a local folder in that repository's layout: a ``hyperparams.yaml`` whose ``Pretrainer`` names the
  encoder checkpoint (``embedding_model.ckpt``, SpeechBrain's ``Cnn14`` lobe, whose parameter names our
  :class:`~interpretability.classifiers.cnn.CNN14Encoder` has), the head checkpoint (``classifier.ckpt``:
  ``ECAPA_TDNN.Classifier``, a cosine head, or ``torch.nn.Linear``) and the label encoder (``label_encoder.txt``).
  Its front end must be ours (STFT n_fft 1024, 23.2 ms window, 11.6 ms hop at 16 kHz, ``log1p`` of 80 mel bands
  of the magnitude, as in SpeechBrain's ESC-50 recipes). Outputs are put in ESC-50's target order when the label
  encoder holds ESC-50's 50 categories (it lists them in the order the training data first showed them);
- PANNs' 16 kHz CNN14 checkpoint (``Cnn14_16k_mAP=0.438.pth``: ``{"model": state dict}``), 527 AudioSet classes,
  multi-label, with PANNs' own log-mel front end (:class:`~interpretability.classifiers.panns.PANNsLogMel`) and
  ``fc1`` head; class names from ``class_labels_indices.csv`` beside the checkpoint when it is there.

Published formats are converted once into our export format in ``savedir`` (the description names the
architecture, front end, head, classes, clip length and the source), so an interpreter trained on such a
classifier carries a copy of it like any other and loads offline.
"""

import csv
import logging
import os
import re

import torch
import yaml

from interpretability.classifiers.base import build_classifier
from interpretability.classifiers.heads import CosineHead, PANNsHead
from interpretability.classifiers.io import (
    HPARAMS_FILE,
    _read_description,
    export_classifier,
    hub_fetch,
    is_exported_folder,
    load_classifier,
)
from interpretability.errors import CheckpointError, InputError
from interpretability.spectral import STFTConfig

logger = logging.getLogger(__name__)

SPEECHBRAIN_ESC50 = "speechbrain/cnn14-esc50"
SPEECHBRAIN_FILES = {
    "embedding_model": "embedding_model.ckpt",
    "classifier": "classifier.ckpt",
    "label_encoder": "label_encoder.txt",
}
# SpeechBrain's ESC-50 recipes train the cosine head through an additive-angular-margin softmax of this scale.
SPEECHBRAIN_LOGIT_SCALE = 30.0
PANNS_LABELS_FILE = "class_labels_indices.csv"
PANNS_16K_FRONT_END = dict(
    type="panns_logmel",
    sample_rate=16000,
    n_fft=512,
    win_length=512,
    hop_length=160,
    n_mels=64,
    f_min=50.0,
    f_max=8000.0,
    ref=1.0,
    amin=1e-10,
    top_db=None,
)


# ------------------------------------------------------------------------------- SpeechBrain hparams


class _TaggedMap(dict):
    """A mapping written with a hyperpyyaml tag (``!new:speechbrain.lobes.models.Cnn14.Cnn14``)."""

    tag = ""


class _TaggedScalar(str):
    """A scalar written with a tag (``!ref <n_mels>``, ``!PLACEHOLDER``)."""

    tag = ""


class _HyperpyyamlReader(yaml.SafeLoader):
    """Reads hyperpyyaml as plain YAML, keeping tags, without building any object it names."""


def _construct_tagged(loader, suffix, node):
    if isinstance(node, yaml.MappingNode):
        value = _TaggedMap(loader.construct_mapping(node, deep=True))
    elif isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    else:
        value = _TaggedScalar(loader.construct_scalar(node))
    value.tag = suffix
    return value


_HyperpyyamlReader.add_multi_constructor("!", _construct_tagged)


def _resolve(value, top, depth=0):
    """``!ref <key>`` (and ``<key>/file``) against the top-level keys; other values unchanged."""
    if (
        not (isinstance(value, _TaggedScalar) and value.tag == "ref")
        or depth > 10
    ):
        return value
    whole = re.fullmatch(r"\s*<([\w.]+)>\s*", value)
    if whole:
        return _resolve(top.get(whole.group(1)), top, depth + 1)
    return re.sub(
        r"<([\w.]+)>",
        lambda m: str(_resolve(top.get(m.group(1)), top, depth + 1)),
        str(value),
    )


def _read_speechbrain_hparams(path):
    try:
        with open(path, encoding="utf-8") as handle:
            top = yaml.load(handle, Loader=_HyperpyyamlReader)  # noqa: S506 (a safe loader that keeps tags)
    except (OSError, yaml.YAMLError) as err:
        raise CheckpointError(
            f"{path}: cannot read SpeechBrain hyperparameters ({err})"
        ) from None
    if not isinstance(top, dict):
        raise CheckpointError(f"{path}: not a SpeechBrain hyperparameter file")
    return top


def _objects(top, suffix):
    """``[(key, {argument: resolved value})]`` of the top-level objects whose tag ends with ``suffix``."""
    found = []
    for key, value in top.items():
        if isinstance(value, _TaggedMap) and value.tag.endswith(suffix):
            found.append((key, {k: _resolve(v, top) for k, v in value.items()}))
    return found


def speechbrain_layout(path):
    """What a SpeechBrain inference ``hyperparams.yaml`` says about a CNN14 classifier.

    Returns a dict: ``files`` (``embedding_model``, ``classifier``, ``label_encoder`` -> file names), ``encoder``
    (Cnn14 arguments), ``head`` (``("cosine", arguments)`` or ``("linear", arguments)``) and ``clip_seconds``.
    CheckpointError when it does not describe a Cnn14 classifier on our front end.
    """
    top = _read_speechbrain_hparams(path)
    encoders = _objects(top, "Cnn14.Cnn14")
    if not encoders:
        raise CheckpointError(
            f"{path}: no speechbrain.lobes.models.Cnn14.Cnn14 embedding model in it (only "
            f"SpeechBrain's CNN14 classifiers and our exported ones can be explained)"
        )
    encoder = encoders[0][1]
    cosine = _objects(top, "ECAPA_TDNN.Classifier")
    linear = [
        item
        for item in _objects(top, "torch.nn.Linear")
        if item[0] == "classifier"
    ]
    if cosine:
        head = ("cosine", cosine[0][1])
    elif linear:
        head = ("linear", linear[0][1])
    else:
        raise CheckpointError(
            f"{path}: no classifier head in it (expected ECAPA_TDNN.Classifier or torch.nn.Linear "
            f"under 'classifier')"
        )
    files = dict(SPEECHBRAIN_FILES)
    for _, pretrainer in _objects(top, "Pretrainer"):
        for name, location in (pretrainer.get("paths") or {}).items():
            if name in files and location:
                files[name] = str(location).rstrip("/").split("/")[-1]
    _check_speechbrain_front_end(path, top, encoder)
    clip = _resolve(top.get("signal_length_s"), top) or 5.0
    return {
        "files": files,
        "encoder": encoder,
        "head": head,
        "clip_seconds": float(clip),
    }


def _check_speechbrain_front_end(path, top, encoder):
    config = STFTConfig()
    sample_rate = int(
        _resolve(top.get("sample_rate"), top) or config.sample_rate
    )
    n_fft = int(_resolve(top.get("n_fft"), top) or config.n_fft)
    # SpeechBrain's STFT takes milliseconds: round(rate / 1000 * ms) samples
    hop = int(
        round(
            sample_rate
            / 1000.0
            * float(_resolve(top.get("hop_length"), top) or 11.6099)
        )
    )
    win = int(
        round(
            sample_rate
            / 1000.0
            * float(_resolve(top.get("win_length"), top) or 23.2199)
        )
    )
    power = float(_resolve(top.get("spec_mag_power"), top) or 0.5)
    theirs = (sample_rate, n_fft, win, hop, power)
    ours = (
        config.sample_rate,
        config.n_fft,
        config.win_length,
        config.hop_length,
        0.5,
    )
    if theirs != ours:
        raise CheckpointError(
            f"{path}: its front end (rate, n_fft, window, hop, magnitude power) = {theirs} is not ours {ours}; "
            f"masks are computed on one STFT grid, so this classifier cannot be explained as is"
        )
    melspectra = _resolve(top.get("use_melspectra"), top)
    if melspectra is False:
        raise CheckpointError(
            f"{path}: use_melspectra is False (a log-spectrogram model); only log1p-mel CNN14 "
            f"classifiers are supported"
        )
    for _, fbank in _objects(top, "features.Filterbank"):
        if (
            float(fbank.get("f_min", 0) or 0) != 0
            or float(fbank.get("f_max", sample_rate / 2)) != sample_rate / 2
        ):
            raise CheckpointError(
                f"{path}: its mel filterbank spans {fbank.get('f_min')}-{fbank.get('f_max')} Hz; "
                f"ours spans 0-{sample_rate // 2} Hz"
            )


def _load_state(path, what):
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: {what} not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (
        Exception
    ) as err:  # torch raises many types for a file that is not a checkpoint
        raise CheckpointError(
            f"{path}: unreadable checkpoint ({str(err).splitlines()[0][:200]})"
        ) from None
    if not isinstance(state, dict) or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        raise CheckpointError(f"{path}: not a state dict of tensors")
    return {
        k[len("module.") :] if k.startswith("module.") else k: v
        for k, v in state.items()
    }


def _shape(state, key, path, what):
    if key not in state:
        raise CheckpointError(f"{path}: not {what} (no '{key}' in it)")
    return tuple(state[key].shape)


def _load_into(module, state, path, what):
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as err:
        lines = [line.strip() for line in str(err).strip().splitlines()]
        raise CheckpointError(
            f"{path}: does not match {what} ({'; '.join(lines[1:3]) or lines[0]})"
        ) from None


def read_label_encoder(path, n_classes):
    """Class names by output index from SpeechBrain's ``CategoricalEncoder`` file (``'dog' => 0`` lines)."""
    from speechbrain.dataio.encoder import CategoricalEncoder

    if not os.path.isfile(path):
        raise CheckpointError(
            f"{path}: label encoder not found (it gives the class of each output)"
        )
    try:
        _, ind2lab, _ = CategoricalEncoder._load_literal(path)
    except (ValueError, SyntaxError) as err:
        raise CheckpointError(
            f"{path}: not a SpeechBrain label encoder file ({err})"
        ) from None
    if sorted(ind2lab) != list(range(n_classes)):
        raise CheckpointError(
            f"{path}: labels for indices {sorted(ind2lab)[:5]}... but the classifier has "
            f"{n_classes} outputs (0..{n_classes - 1})"
        )
    return [str(ind2lab[i]) for i in range(n_classes)]


def _output_layer(model):
    """The layer whose rows are the outputs (a cosine head, PANNs' fc_audioset, a linear head), or None."""
    head = getattr(model, "head", None)
    if isinstance(head, PANNsHead):
        return head.fc_audioset
    return head if isinstance(head, (CosineHead, torch.nn.Linear)) else None


def permute_outputs(model, order):
    """Reorder the classifier's outputs: new output ``i`` is old output ``order[i]`` (last layer rows)."""
    layer = _output_layer(model)
    index = torch.as_tensor(order, dtype=torch.long)
    with torch.no_grad():
        layer.weight.copy_(layer.weight[index])
        if getattr(layer, "bias", None) is not None:
            layer.bias.copy_(layer.bias[index])


def build_speechbrain_classifier(folder, layout, origin):
    """Our classifier from a SpeechBrain CNN14 repository folder (files named by ``layout``).

    Returns ``(model, classes, clip_seconds, source)``.
    """
    from interpretability.data.esc50 import ESC50_CLASSES

    files = {
        name: os.path.join(folder, filename)
        for name, filename in layout["files"].items()
    }
    encoder_state = _load_state(files["embedding_model"], "encoder checkpoint")
    head_state = _load_state(files["classifier"], "classifier checkpoint")
    n_mels = _shape(
        encoder_state,
        "norm0.weight",
        files["embedding_model"],
        "a SpeechBrain Cnn14 checkpoint",
    )[0]
    emb_dim = _shape(
        encoder_state,
        "conv_block6.conv1.weight",
        files["embedding_model"],
        "a SpeechBrain Cnn14 checkpoint",
    )[0]
    stated = {k: layout["encoder"].get(k) for k in ("mel_bins", "emb_dim")}
    if (stated["mel_bins"] not in (None, n_mels)) or (
        stated["emb_dim"] not in (None, emb_dim)
    ):
        raise CheckpointError(
            f"{files['embedding_model']}: holds Cnn14(mel_bins={n_mels}, emb_dim={emb_dim}) but "
            f"{HPARAMS_FILE} says Cnn14(mel_bins={stated['mel_bins']}, emb_dim={stated['emb_dim']})"
        )
    kind, arguments = layout["head"]
    n_classes = _shape(
        head_state,
        "weight",
        files["classifier"],
        "a classifier head checkpoint",
    )[0]
    head = None
    if kind == "cosine":
        lin_blocks = len(
            [
                k
                for k in head_state
                if re.fullmatch(r"blocks\.\d+\.norm\.weight", k)
            ]
        )
        lin_neurons = (
            head_state["blocks.1.w.weight"].shape[0]
            if lin_blocks
            else int(arguments.get("lin_neurons") or 192)
        )
        head = dict(
            type="cosine",
            lin_blocks=lin_blocks,
            lin_neurons=int(lin_neurons),
            scale=SPEECHBRAIN_LOGIT_SCALE,
        )
    norm_type = str(layout["encoder"].get("norm_type") or "bn")
    model = build_classifier(
        "cnn14",
        n_classes,
        n_mels=n_mels,
        emb_dim=emb_dim,
        norm_type=norm_type,
        head=head,
    )
    _load_into(
        model.encoder,
        encoder_state,
        files["embedding_model"],
        f"SpeechBrain's Cnn14(mel_bins={n_mels}, emb_dim={emb_dim})",
    )
    _load_into(
        model.head,
        head_state,
        files["classifier"],
        f"the {kind} head of {HPARAMS_FILE}",
    )
    classes = read_label_encoder(files["label_encoder"], n_classes)
    if sorted(classes) == sorted(ESC50_CLASSES) and classes != list(
        ESC50_CLASSES
    ):
        permute_outputs(model, [classes.index(name) for name in ESC50_CLASSES])
        classes = list(ESC50_CLASSES)
        logger.info("%s: outputs put in ESC-50's target order", origin)
    source = {
        "format": "speechbrain",
        "from": origin,
        "files": dict(layout["files"]),
        "logit_scale": SPEECHBRAIN_LOGIT_SCALE if kind == "cosine" else 1.0,
    }
    return model.eval(), classes, layout["clip_seconds"], source


# --------------------------------------------------------------------------------------------- PANNs


def _panns_state(path):
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(
            f"{path}: unreadable checkpoint ({str(err).splitlines()[0][:200]})"
        ) from None
    state = blob.get("model", blob) if isinstance(blob, dict) else None
    if not isinstance(state, dict) or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        raise CheckpointError(
            f"{path}: not a PANNs checkpoint (expected {{'model': state dict}})"
        )
    return {
        k[len("module.") :] if k.startswith("module.") else k: v
        for k, v in state.items()
    }


def panns_to_ours(state, path):
    """PANNs CNN14 state dict -> ``(our state dict, build arguments)``; shapes decide the sizes."""
    what = "a PANNs Cnn14 checkpoint"
    n_mels = _shape(state, "bn0.weight", path, what)[0]
    blocks = sorted(
        int(m.group(1))
        for k in state
        for m in [re.fullmatch(r"conv_block(\d+)\.conv1\.weight", k)]
        if m
    )
    if blocks != list(range(1, 7)):
        raise CheckpointError(
            f"{path}: not {what} (conv blocks {blocks}, CNN14 has 1..6)"
        )
    widths = [
        _shape(state, f"conv_block{i}.conv1.weight", path, what)[0]
        for i in blocks
    ]
    hidden = _shape(state, "fc1.weight", path, what)[0]
    n_classes = _shape(state, "fc_audioset.weight", path, what)[0]
    window = state.get("spectrogram_extractor.stft.conv_real.weight")
    n_fft = (
        int(window.shape[-1])
        if window is not None
        else PANNS_16K_FRONT_END["n_fft"]
    )
    if n_fft != PANNS_16K_FRONT_END["n_fft"]:
        raise CheckpointError(
            f"{path}: a {n_fft}-point STFT front end (a 32 kHz PANNs model?); only the 16 kHz "
            f"CNN14 (Cnn14_16k, 512-point STFT) reads the 16 kHz audio this toolkit works on"
        )
    ours = {}
    for key, value in state.items():
        if key.startswith(("spectrogram_extractor.", "spec_augmenter.")):
            continue
        if key == "logmel_extractor.melW":
            ours["front_end.melW"] = value
        elif key.startswith("bn0."):
            ours["encoder.norm0." + key[4:]] = value
        elif key.startswith("conv_block"):
            ours[
                "encoder."
                + key.replace(".bn1.", ".norm1.").replace(".bn2.", ".norm2.")
            ] = value
        elif key.startswith(("fc1.", "fc_audioset.")):
            ours["head." + key] = value
        else:
            raise CheckpointError(
                f"{path}: unexpected parameter '{key}' for {what}"
            )
    front_end = dict(PANNS_16K_FRONT_END, n_mels=int(n_mels))
    arguments = dict(
        architecture="cnn14",
        n_classes=int(n_classes),
        n_mels=int(n_mels),
        multilabel=True,
        emb_dim=int(widths[-1]),
        channels=[int(w) for w in widths[:-1]],
        front_end=front_end,
        head=dict(type="panns", hidden=int(hidden)),
    )
    return ours, arguments


def panns_class_names(path, n_classes):
    """AudioSet display names from ``class_labels_indices.csv`` beside the checkpoint, else ``audioset_<i>``."""
    labels = os.path.join(
        os.path.dirname(os.path.abspath(path)), PANNS_LABELS_FILE
    )
    if os.path.isfile(labels):
        with open(labels, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        names = [row.get("display_name", "").strip() for row in rows]
        if len(names) == n_classes and all(names):
            return names
        logger.warning(
            "%s: %d names for %d outputs; generic names are used",
            labels,
            len(names),
            n_classes,
        )
    else:
        logger.warning(
            "%s: no %s beside it (PANNs' metadata/%s): outputs are named audioset_<i>",
            path,
            PANNS_LABELS_FILE,
            PANNS_LABELS_FILE,
        )
    return [f"audioset_{i}" for i in range(n_classes)]


def build_panns_classifier(path):
    """Our classifier from a PANNs CNN14 (16 kHz) checkpoint; returns ``(model, classes, clip_seconds, source)``."""
    state, arguments = panns_to_ours(_panns_state(path), path)
    model = build_classifier(**arguments)
    if (
        "front_end.melW" not in state
    ):  # a checkpoint without its filterbank: librosa's filters, as PANNs builds
        state["front_end.melW"] = model.front_end.melW.clone()
    _load_into(model, state, path, "PANNs' Cnn14_16k layout")
    classes = panns_class_names(path, arguments["n_classes"])
    source = {
        "format": "panns",
        "from": os.path.abspath(path),
        "front_end": "PANNs log-mel (512-point STFT, hop "
        "160, 64 slaney mel bands 50-8000 Hz, 10 log10) computed from our magnitude grid",
    }
    return model.eval(), classes, 10.0, source


# ---------------------------------------------------------------------------------------------- entry


def load_pretrained_classifier(source, savedir, device="cpu", classes=None):
    """Load any supported classifier (see the module docstring).

    Published formats are converted into our export format in ``savedir``; hub files are fetched into
    ``<savedir>_hub``. ``classes``: the data's classes; a classifier of the same classes in another order (a
    SpeechBrain label encoder lists them as the training data first showed them) gets its outputs reordered to
    them, in a copy exported to ``savedir``. Returns ``(classifier in eval mode, description, folder of the
    exported classifier)``. Raises CheckpointError (one line) for anything that is not a classifier, or a hub id
    that cannot be fetched.
    """
    model, description, folder = _load_any(os.fspath(source), savedir, device)
    theirs = list(description["classes"])
    if (
        classes is not None
        and theirs != list(classes)
        and sorted(theirs) == sorted(classes)
        and (_output_layer(model) is not None)
    ):
        permute_outputs(model, [theirs.index(name) for name in classes])
        origin = dict(
            description.get("source")
            or {"format": "exported", "from": os.path.abspath(folder)}
        )
        origin["outputs_reordered_to"] = "the data's classes"
        export_classifier(
            model,
            savedir,
            list(classes),
            clip_seconds=description["clip_seconds"],
            extra={"source": origin},
        )
        logger.info("%s: outputs reordered to the data's class order", source)
        return (
            model,
            _read_description(os.path.join(savedir, HPARAMS_FILE)),
            savedir,
        )
    return model, description, folder


def _load_any(source, savedir, device):
    if os.path.isfile(source):
        if not source.lower().endswith((".pth", ".pt")):
            raise CheckpointError(
                f"{source}: expected a classifier folder, a hub id or a PANNs checkpoint (.pth)"
            )
        model, classes, clip_seconds, origin = build_panns_classifier(source)
    elif os.path.isdir(source):
        for candidate in (source, os.path.join(source, "classifier")):
            if is_exported_folder(candidate):
                model, description = load_classifier(candidate, device=device)
                return model, description, candidate
        hparams = os.path.join(source, HPARAMS_FILE)
        if not os.path.isfile(hparams):
            raise CheckpointError(
                f"{source}: no classifier here (expected {HPARAMS_FILE} and model.ckpt written by "
                f"train_classifier.py, a SpeechBrain CNN14 repository or a PANNs .pth file)"
            )
        model, classes, clip_seconds, origin = build_speechbrain_classifier(
            source, speechbrain_layout(hparams), os.path.abspath(source)
        )
    else:
        download = savedir.rstrip(os.sep) + "_hub"
        hparams = hub_fetch(HPARAMS_FILE, source, download)
        if is_exported_folder(download) or _is_our_description(hparams):
            model, description = load_classifier(
                source, savedir=download, device=device
            )
            return model, description, download
        layout = speechbrain_layout(hparams)
        for filename in layout["files"].values():
            hub_fetch(filename, source, download)
        model, classes, clip_seconds, origin = build_speechbrain_classifier(
            download, layout, source
        )
    export_classifier(
        model,
        savedir,
        classes,
        clip_seconds=clip_seconds,
        extra={"source": origin},
    )
    logger.info("Converted %s (%s) into %s", source, origin["format"], savedir)
    return (
        model.to(device).eval(),
        _read_description(os.path.join(savedir, HPARAMS_FILE)),
        savedir,
    )


def _is_our_description(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return any(line.startswith("architecture:") for line in handle)
    except OSError:
        return False


# ------------------------------------------------------------------------------- classes of the data


def _names(classes, shown=4):
    classes = list(classes)
    return ", ".join(classes[:shown]) + (
        ", ..." if len(classes) > shown else ""
    )


def check_classifier_classes(
    source, classifier_classes, data_classes, data_folder
):
    """InputError naming both class counts (and lists) when a classifier was not trained on the data's classes."""
    theirs, ours = list(classifier_classes), list(data_classes)
    if theirs == ours:
        return
    if len(theirs) != len(ours):
        raise InputError(
            f"{source}: the classifier has {len(theirs)} classes ({_names(theirs)}) but the data in "
            f"{data_folder} has {len(ours)} ({_names(ours)})"
        )
    raise InputError(
        f"{source}: the classifier was trained on classes ({_names(theirs)}) but the data in "
        f"{data_folder} has ({_names(ours)}) (a classifier of another dataset?)"
    )


def classifier_for_data(hparams, classes):
    """The classifier ``train_classifier.py`` fits, with one output per class of the data ``classes``.

    - ``pretrained_classifier`` given: that classifier, its own architecture (any source
      :func:`~interpretability.classifiers.pretrained.load_pretrained_classifier` accepts); InputError naming both
      class counts when it was trained on other classes.
    - else ``hparams["classifier"]`` called with ``n_classes`` = the number of classes the preparation found (an
      hparams file may also build the model itself); ``n_classes`` set in the hparams must agree with the data.
    """
    data_folder = hparams.get("data_folder", hparams["save_folder"])
    source = hparams.get("pretrained_classifier")
    if source:
        model, description, _ = load_pretrained_classifier(
            source,
            savedir=os.path.join(
                hparams["save_folder"], "pretrained_classifier"
            ),
            classes=classes,
        )
        check_classifier_classes(
            source, description["classes"], classes, data_folder
        )
        if model.multilabel != bool(hparams.get("multilabel", False)):
            raise InputError(
                f"{source}: a {'multi' if model.multilabel else 'single'}-label classifier, but "
                f"multilabel is {hparams.get('multilabel', False)} for this data"
            )
        logger.info("Fine-tuning %s (its own architecture)", source)
        return model.train()
    requested = hparams.get("n_classes")
    factory = hparams["classifier"]
    built = factory if isinstance(factory, torch.nn.Module) else None
    if requested is None and built is not None:
        requested = built.n_classes
    if requested is not None and int(requested) != len(classes):
        raise InputError(
            f"{hparams['save_folder']}/classes.json: the data in {data_folder} has {len(classes)} classes but "
            f"n_classes is {int(requested)}; leave n_classes out (null: taken from the data) or pass "
            f"--n_classes {len(classes)}"
        )
    return built if built is not None else factory(n_classes=len(classes))
