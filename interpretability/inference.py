"""Explain a wav file with a trained interpreter in a few lines::

    from interpretability.inference import Explainer
    explainer = Explainer.from_hparams("results/lmac_cnn6/1986/interpreter")
    result = explainer.explain_file("dog.wav")
    result["label"], result["explanation"]          # decided class, listenable waveform [samples]
    explainer.save(result, "out/", "dog")           # dog_input.wav, dog_explanation.wav, dog.png

An interpreter folder (written by ``train_lmac.py`` as ``<output_folder>/interpreter/``) holds
``hyperparams.yaml`` (method, decoder arguments, mask domain), ``decoder.ckpt`` and ``classifier/`` (the exported
classifier it explains), so it is self-contained and can be copied or pushed to a hub as is.
"""
import logging
import os
import shutil

import torch
import yaml

from interpretability.audio import SAMPLE_RATE, read_audio, write_audio
from interpretability.classifiers.io import HPARAMS_FILE, load_classifier
from interpretability.errors import CheckpointError
from interpretability.report.figures import save_explanation_figure
from interpretability.results import atomic_torch_save, atomic_write_text
from interpretability.spectral import listenable, magnitude_phase

logger = logging.getLogger(__name__)

DECODER_FILE = "decoder.ckpt"
CLASSIFIER_FOLDER = "classifier"


def export_interpreter(folder, decoder, decoder_config, classifier_folder, mask_domain="linear", method="lmac",
                       extra=None):
    """Write an interpreter folder: ``hyperparams.yaml``, ``decoder.ckpt`` and a copy of the classifier."""
    os.makedirs(folder, exist_ok=True)
    target = os.path.join(folder, CLASSIFIER_FOLDER)
    if os.path.abspath(classifier_folder) != os.path.abspath(target):
        shutil.copytree(classifier_folder, target, dirs_exist_ok=True)
    description = {"method": method, "mask_domain": mask_domain, "decoder": dict(decoder_config)}
    description.update(extra or {})
    atomic_torch_save(os.path.join(folder, DECODER_FILE), {k: v.cpu() for k, v in decoder.state_dict().items()})
    atomic_write_text(os.path.join(folder, HPARAMS_FILE), yaml.safe_dump(description, sort_keys=False))
    return folder


def interpreter_folder(path):
    """Accept either an interpreter folder or the output folder of the run that wrote one."""
    for candidate in (path, os.path.join(path, "interpreter")):
        if os.path.isfile(os.path.join(candidate, DECODER_FILE)):
            return candidate
    raise CheckpointError(f"{path}: no trained interpreter here (expected {DECODER_FILE} in it or in "
                          f"{os.path.join(path, 'interpreter')})")


def load_decoder(folder, device="cpu"):
    """Load the L-MAC decoder of an interpreter folder; returns ``(decoder, description)``."""
    from interpretability.interpreters.lmac import LMACDecoder

    folder = interpreter_folder(folder)
    with open(os.path.join(folder, HPARAMS_FILE), encoding="utf-8") as handle:
        description = yaml.safe_load(handle) or {}
    if description.get("method") not in ("lmac", "lmac_ft"):
        raise CheckpointError(f"{os.path.join(folder, HPARAMS_FILE)}: not an L-MAC interpreter "
                              f"(method {description.get('method')!r})")
    decoder = LMACDecoder(**description["decoder"])
    path = os.path.join(folder, DECODER_FILE)
    try:
        decoder.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except RuntimeError as err:
        raise CheckpointError(f"{path}: checkpoint does not match the decoder in {HPARAMS_FILE} "
                              f"({str(err).splitlines()[0]})") from None
    return decoder.to(device).eval(), description


def load_interpreter(folder, device="cpu"):
    """``(interpreter, description)`` of an interpreter folder, whatever its method: an L-MAC / L-MAC FT decoder
    (:func:`load_decoder`) or an L2I interpreter; both give masks through ``mask(hidden, n_frames, classes)``."""
    from interpretability.interpreters.l2i import load_l2i

    folder = interpreter_folder(folder)
    with open(os.path.join(folder, HPARAMS_FILE), encoding="utf-8") as handle:
        method = (yaml.safe_load(handle) or {}).get("method")
    return (load_l2i if method == "l2i" else load_decoder)(folder, device)


class Explainer:
    """A classifier and its trained interpreter (L-MAC, L-MAC FT or L2I), ready to explain waveforms."""

    def __init__(self, classifier, decoder, classes, mask_domain="linear", device="cpu"):
        self.classifier = classifier.to(device).eval()
        self.decoder = decoder.to(device).eval()
        self.classes = list(classes)
        self.mask_domain = mask_domain
        self.device = device

    @classmethod
    def from_hparams(cls, source, device="cpu"):
        """Load from an interpreter folder (or the output folder holding ``interpreter/``)."""
        folder = interpreter_folder(source)
        decoder, description = load_interpreter(folder, device)
        classifier, classifier_description = load_classifier(os.path.join(folder, CLASSIFIER_FOLDER), device=device)
        return cls(classifier, decoder, classifier_description["classes"], description.get("mask_domain", "linear"),
                   device)

    @torch.no_grad()
    def explain_batch(self, wavs):
        """Explain the classifier's decision on ``wavs`` ``[B, samples]`` (16 kHz).

        Returns a dict: ``mask`` ``[B, T, F]``, ``explanation`` ``[B, samples]``, ``decision`` ``[B]``,
        ``probs`` ``[B, C]``, ``magnitude`` ``[B, T, F]``.
        """
        wavs = wavs.to(self.device)
        magnitude, phase = magnitude_phase(wavs)
        logits, hidden = self.classifier.forward_with_hidden(magnitude)
        decision = logits.argmax(dim=-1)
        # a multi-label decoder has a mask per class: explain the top class
        mask = self.decoder.mask(hidden, magnitude.shape[1], classes=decision)
        return {
            "mask": mask,
            "explanation": listenable(magnitude, phase, mask, wavs.shape[-1], self.mask_domain),
            "decision": decision,
            "probs": self.classifier.probabilities(logits),
            "magnitude": magnitude,
            "wavs": wavs,
        }

    def explain_file(self, path):
        """Explain one file of any sample rate, channel count or length; adds ``label`` and ``probability``."""
        wav = read_audio(path, SAMPLE_RATE)
        result = {k: v[0] for k, v in self.explain_batch(wav.unsqueeze(0)).items()}
        decision = int(result["decision"])
        result["label"] = self.classes[decision]
        result["probability"] = float(result["probs"][decision])
        return result

    def save(self, result, out_dir, stem):
        """Write ``<stem>_input.wav``, ``<stem>_explanation.wav`` and ``<stem>.png``; returns their paths."""
        paths = [os.path.join(out_dir, f"{stem}_input.wav"), os.path.join(out_dir, f"{stem}_explanation.wav"),
                 os.path.join(out_dir, f"{stem}.png")]
        write_audio(paths[0], result["wavs"])
        write_audio(paths[1], result["explanation"])
        save_explanation_figure(paths[2], result["magnitude"], result["mask"],
                                title=f"{stem}: {result['label']} (p={result['probability']:.2f})",
                                domain=self.mask_domain)
        return paths
