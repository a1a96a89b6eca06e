"""Explain a wav file with a trained interpreter in a few lines::

    from interpretability.inference import Explainer
    explainer = Explainer.from_hparams("results/lmac_cnn6/1986/interpreter")
    result = explainer.explain_file("dog.wav")
    result["label"], result["explanation"]          # decided class, listenable waveform [samples]
    explainer.save(result, "out/", "dog")           # dog_input.wav, dog_explanation.wav, dog.png

Files of any length: one shorter than the classifier's clip length (``clip_seconds`` of its description, or the
shortest input its pooling accepts) is zero-padded to it, as the training clips were, and the padding is cropped
from the mask and the explanation; a longer one is explained in windows of the clip length overlapping by half,
the window masks averaged where they overlap into one mask for the whole file, with the decision of every window in
``result["windows"]``.

An interpreter folder (written by ``train_lmac.py`` as ``<output_folder>/interpreter/``) holds
``hyperparams.yaml`` (method, decoder arguments, mask domain), ``decoder.ckpt`` and ``classifier/`` (the exported
classifier it explains), so it is self-contained and can be copied or pushed to a hub as is.
"""

import csv
import io
import logging
import math
import os

import torch

from interpretability.audio import (
    SAMPLE_RATE,
    pad_or_crop,
    read_audio,
    write_audio,
)
from interpretability.classifiers.io import HPARAMS_FILE, load_classifier
from interpretability.errors import CheckpointError
from interpretability.interpreters.io import (  # noqa: F401 - the interpreter folder, part of this API
    CLASSIFIER_FOLDER,
    DECODER_FILE,
    export_interpreter,
    interpreter_folder,
    read_interpreter_description,
)
from interpretability.report.figures import save_explanation_figure
from interpretability.results import atomic_write_text
from interpretability.spectral import STFTConfig, listenable, magnitude_phase

logger = logging.getLogger(__name__)


def load_decoder(folder, device="cpu"):
    """Load the L-MAC decoder of an interpreter folder; returns ``(decoder, description)``.

    Example
    -------
    >>> import tempfile
    >>> from interpretability.classifiers import build_classifier
    >>> from interpretability.classifiers.io import export_classifier
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
    >>> loaded, description = load_decoder(
    ...     run
    ... )  # the run folder holding interpreter/
    >>> type(loaded).__name__, description["method"], loaded.training
    ('LMACDecoder', 'lmac', False)
    """
    from interpretability.classifiers.io import read_checkpoint
    from interpretability.interpreters.lmac import LMACDecoder

    folder = interpreter_folder(folder)
    description = read_interpreter_description(folder)
    if description.get("method") not in ("lmac", "lmac_ft"):
        raise CheckpointError(
            f"{os.path.join(folder, HPARAMS_FILE)}: not an L-MAC interpreter "
            f"(method {description.get('method')!r})"
        )
    try:
        decoder = LMACDecoder(**description["decoder"])
    except (TypeError, ValueError) as err:
        raise CheckpointError(
            f"{os.path.join(folder, HPARAMS_FILE)}: cannot build the decoder it describes "
            f"({err})"
        ) from None
    path = os.path.join(folder, DECODER_FILE)
    state = read_checkpoint(path)
    try:
        decoder.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as err:
        raise CheckpointError(
            f"{path}: checkpoint does not match the decoder in {HPARAMS_FILE} "
            f"({str(err).splitlines()[0] if str(err) else type(err).__name__})"
        ) from None
    return decoder.to(device).eval(), description


def load_interpreter(folder, device="cpu"):
    """``(interpreter, description)`` of an interpreter folder, whatever its method: an L-MAC / L-MAC FT decoder
    (:func:`load_decoder`) or an L2I interpreter; both give masks through ``mask(hidden, n_frames, classes)``.
    A missing or damaged description or checkpoint raises CheckpointError naming the file.

    Example
    -------
    >>> import tempfile
    >>> from interpretability.classifiers import build_classifier
    >>> from interpretability.classifiers.io import export_classifier
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
    >>> interpreter, description = load_interpreter(folder)
    >>> type(interpreter).__name__, description["mask_domain"]
    ('LMACDecoder', 'linear')
    """
    from interpretability.classifiers.io import read_checkpoint
    from interpretability.interpreters.l2i import load_l2i

    folder = interpreter_folder(folder)
    method = read_interpreter_description(folder).get("method")
    if method == "l2i":
        read_checkpoint(
            os.path.join(folder, DECODER_FILE)
        )  # a damaged file: one line here, not a traceback there
        return load_l2i(folder, device)
    return load_decoder(folder, device)


def interpreter_reads(interpreter):
    """``{layer: channels}`` of the classifier's hidden maps an interpreter reads (L-MAC decoder or L2I's Psi).

    Example
    -------
    >>> from interpretability.interpreters.lmac import LMACDecoder
    >>> interpreter_reads(LMACDecoder({"block3": 8, "block4": 16}))
    {'block3': 8, 'block4': 16}
    """
    for module in (interpreter, getattr(interpreter, "psi", None)):
        channels = getattr(module, "layer_channels", None)
        if channels:
            return dict(channels)
    return {}


@torch.no_grad()
def classifier_layer_channels(classifier, seconds=2.0):
    """``{layer: channels}`` of a classifier's interpretable hidden maps (one forward pass on silence).

    Example
    -------
    >>> from interpretability.classifiers import build_classifier
    >>> classifier = build_classifier(
    ...     "compact_cnn", n_classes=2, channels=[4, 4, 8, 8]
    ... )
    >>> classifier_layer_channels(classifier)
    {'conv_block1': 4, 'conv_block2': 4, 'conv_block3': 8, 'conv_block4': 8}
    """
    config = STFTConfig()
    frames = config.num_frames(int(seconds * config.sample_rate))
    was_training = classifier.training
    device = next(classifier.parameters()).device
    _, hidden = classifier.eval().forward_with_hidden(
        torch.zeros(1, frames, config.n_freqs, device=device)
    )
    classifier.train(was_training)
    return {name: int(h.shape[1]) for name, h in hidden.items()}


def check_interpreter_fits(
    interpreter, classifier, folder, classifier_name, clip_seconds=None
):
    """CheckpointError naming the interpreter folder when it reads hidden layers the classifier does not have (or
    of another width), or has one mask per class for another number of classes.

    Example
    -------
    >>> import tempfile
    >>> from interpretability.classifiers import build_classifier
    >>> from interpretability.classifiers.io import export_classifier
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
    >>> check_interpreter_fits(
    ...     decoder, classifier, folder, "classifier/"
    ... )  # fits: no error
    >>> other = build_classifier(
    ...     "compact_cnn", n_classes=2, channels=[4, 4, 8, 16]
    ... )
    >>> check_interpreter_fits(
    ...     decoder, other, folder, "other/"
    ... )  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    interpretability.errors.CheckpointError: ...: it was trained for another classifier
    """
    reads = interpreter_reads(interpreter)
    try:
        has = classifier_layer_channels(classifier, float(clip_seconds or 2.0))
    except RuntimeError as err:  # a classifier that rejects this input length: the load itself will tell
        logger.debug("layer check skipped: %s", err)
        return
    wrong = {
        name: width for name, width in reads.items() if has.get(name) != width
    }
    if wrong:
        raise CheckpointError(
            f"{folder}: its interpreter reads layers {reads} but the classifier in {classifier_name} "
            f"has {has}: it was trained for another classifier"
        )
    n_masks = int(getattr(interpreter, "config", {}).get("n_masks", 1) or 1)
    if n_masks > 1 and n_masks != classifier.n_classes:
        raise CheckpointError(
            f"{folder}: its decoder has one mask per class for {n_masks} classes but the classifier "
            f"in {classifier_name} has {classifier.n_classes}: it was trained for another "
            f"classifier"
        )


def window_starts(n, clip, overlap=0.5, hop=STFTConfig().hop_length):
    """Start samples of the windows of ``clip`` samples that cover ``n > clip`` samples.

    Windows start every ``clip * (1 - overlap)`` samples rounded to whole STFT hops (so their frames fall on the
    file's frames); the last one ends with the file (within one hop past it: that much zero padding). A regular
    window starting less than half a step before the last one is dropped when the windows still overlap.

    Example
    -------
    >>> window_starts(
    ...     n=40000, clip=16000
    ... )  # 2.5 s in 1 s windows, half overlapping
    [0, 7998, 15996, 24180]
    """
    step = max(hop, int(round(clip * (1 - overlap) / hop)) * hop)
    last = math.ceil((n - clip) / hop) * hop
    starts = list(range(0, last, step))
    if (
        len(starts) > 1
        and last - starts[-1] < step / 2
        and last - starts[-2] <= clip
    ):
        starts.pop()
    return starts + [last]


class Explainer:
    """A classifier and its trained interpreter (L-MAC, L-MAC FT or L2I), ready to explain waveforms.

    ``clip_seconds``: the clip length the classifier was trained on (its exported description's); files are
    padded to it or explained in windows of it (None: every file is explained whole, padded only to the shortest
    input the classifier accepts).

    Example
    -------
    >>> import tempfile
    >>> from interpretability.classifiers import build_classifier
    >>> from interpretability.classifiers.io import export_classifier
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
    >>> explainer = Explainer.from_hparams(run)
    >>> result = explainer.explain_batch(torch.randn(2, 16000) * 0.1)
    >>> (
    ...     result["mask"].shape,
    ...     result["explanation"].shape,
    ...     result["decision"].shape,
    ... )
    (torch.Size([2, 87, 513]), torch.Size([2, 16000]), torch.Size([2]))
    """

    def __init__(
        self,
        classifier,
        decoder,
        classes,
        mask_domain="linear",
        device="cpu",
        clip_seconds=None,
    ):
        self.classifier = classifier.to(device).eval()
        self.decoder = decoder.to(device).eval()
        self.classes = list(classes)
        self.mask_domain = mask_domain
        self.device = device
        self.clip_seconds = float(clip_seconds) if clip_seconds else None
        self.stft_config = STFTConfig()
        self._min_frames = None

    @classmethod
    def from_hparams(cls, source, device="cpu"):
        """Load from an interpreter folder (or the output folder holding ``interpreter/``)."""
        folder = interpreter_folder(source)
        decoder, description = load_interpreter(folder, device)
        classifier_folder = os.path.join(folder, CLASSIFIER_FOLDER)
        if not os.path.isdir(classifier_folder):
            raise CheckpointError(
                f"{classifier_folder}: missing; an interpreter folder holds a copy of the classifier "
                f"it explains (train_lmac.py / train_l2i.py write it)"
            )
        classifier, classifier_description = load_classifier(
            classifier_folder, device=device
        )
        check_interpreter_fits(
            decoder,
            classifier,
            folder,
            classifier_folder,
            classifier_description.get("clip_seconds"),
        )
        return cls(
            classifier,
            decoder,
            classifier_description["classes"],
            description.get("mask_domain", "linear"),
            device,
            clip_seconds=classifier_description.get("clip_seconds"),
        )

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
            "explanation": listenable(
                magnitude, phase, mask, wavs.shape[-1], self.mask_domain
            ),
            "decision": decision,
            "probs": self.classifier.probabilities(logits),
            "magnitude": magnitude,
            "wavs": wavs,
        }

    @torch.no_grad()
    def min_samples(self):
        """The shortest input (samples) the classifier and its interpreter accept: their pooling needs a minimum
        number of STFT frames (found once by trying inputs of growing length)."""
        if self._min_frames is None:

            def accepted(frames):
                silence = torch.zeros(
                    1, frames, self.stft_config.n_freqs, device=self.device
                )
                try:
                    logits, hidden = self.classifier.forward_with_hidden(
                        silence
                    )
                    self.decoder.mask(
                        hidden, frames, classes=logits.argmax(dim=-1)
                    )
                except RuntimeError:
                    return False
                return True

            high = 1
            while not accepted(high):
                if high > 1 << 16:
                    raise CheckpointError(
                        "the classifier rejects inputs of every length tried (up to 65536 frames)"
                    )
                high *= 2
            low = high // 2  # rejected (or 0)
            while high - low > 1:
                middle = (low + high) // 2
                low, high = (
                    (low, middle) if accepted(middle) else (middle, high)
                )
            self._min_frames = high
        return (self._min_frames - 1) * self.stft_config.hop_length

    def explain_file(self, path, overlap=0.5, batch_size=8):
        """Explain one file of any sample rate, channel count or length (see :meth:`explain_waveform`)."""
        return self.explain_waveform(
            read_audio(path, SAMPLE_RATE),
            overlap=overlap,
            batch_size=batch_size,
        )

    @torch.no_grad()
    def explain_waveform(self, wav, overlap=0.5, batch_size=8):
        """Explain a 16 kHz waveform ``[samples]`` of any length.

        Shorter than the clip length (or than :meth:`min_samples`): zero-padded to it, then the mask and the
        explanation are cropped back to the file. Longer: windows of the clip length (see :func:`window_starts`),
        each explained for its own decision; their masks are averaged where they overlap.

        Returns the dict of :meth:`explain_batch` for the whole file (``mask`` ``[T, F]``, ``explanation`` and
        ``wavs`` ``[samples]``, ``magnitude`` ``[T, F]``, ``probs`` ``[C]``: the mean over windows, ``decision``
        its argmax) plus ``label``, ``probability``, ``duration_s``, ``padding_s`` (zeros added to a short file)
        and ``windows``: the decision track, one ``{"start_s", "end_s", "label", "probability"}`` per window.
        """
        if not 0 <= overlap < 1:
            raise ValueError(f"overlap must be in [0, 1), got {overlap}")
        wav = wav.to(self.device)
        n = int(wav.shape[-1])
        hop = self.stft_config.hop_length
        shortest = self.min_samples()
        clip = (
            int(round(self.clip_seconds * SAMPLE_RATE))
            if self.clip_seconds
            else max(n, shortest)
        )
        clip = max(clip, shortest)
        if n <= clip:
            starts = [0]
        else:
            starts = window_starts(n, clip, overlap, hop)
        padded_length = starts[-1] + clip
        padded = pad_or_crop(wav, padded_length)
        frames_total = padded_length // hop + 1
        mask_sum = None
        counts = torch.zeros(frames_total, 1, device=self.device)
        probs, track = [], []
        for first in range(0, len(starts), batch_size):
            chunk = starts[first : first + batch_size]
            batch = torch.stack([padded[s : s + clip] for s in chunk])
            result = self.explain_batch(batch)
            for i, start in enumerate(chunk):
                mask = result["mask"][i]
                if mask_sum is None:
                    mask_sum = torch.zeros(
                        frames_total, mask.shape[-1], device=self.device
                    )
                offset = start // hop
                mask_sum[offset : offset + mask.shape[0]] += mask
                counts[offset : offset + mask.shape[0]] += 1
                decision = int(result["decision"][i])
                probs.append(result["probs"][i])
                track.append(
                    {
                        "start_s": round(start / SAMPLE_RATE, 4),
                        "end_s": round(min(start + clip, n) / SAMPLE_RATE, 4),
                        "label": self.classes[decision],
                        "probability": float(result["probs"][i][decision]),
                    }
                )
        frames = n // hop + 1
        mask = (mask_sum / counts.clamp(min=1))[:frames]
        magnitude, phase = magnitude_phase(wav)
        mean_probs = torch.stack(probs).mean(dim=0)
        decision = int(mean_probs.argmax())
        return {
            "mask": mask,
            "explanation": listenable(
                magnitude, phase, mask, n, self.mask_domain
            ),
            "decision": torch.tensor(decision),
            "probs": mean_probs,
            "magnitude": magnitude,
            "wavs": wav,
            "label": self.classes[decision],
            "probability": float(mean_probs[decision]),
            "duration_s": n / SAMPLE_RATE,
            "padding_s": max(0, clip - n) / SAMPLE_RATE
            if len(starts) == 1
            else 0.0,
            "windows": track,
        }

    def save(self, result, out_dir, stem):
        """Write ``<stem>_input.wav``, ``<stem>_explanation.wav``, ``<stem>.png`` and, for a file explained in
        several windows, ``<stem>_decisions.csv`` (the decision track); returns their paths."""
        paths = [
            os.path.join(out_dir, f"{stem}_input.wav"),
            os.path.join(out_dir, f"{stem}_explanation.wav"),
            os.path.join(out_dir, f"{stem}.png"),
        ]
        write_audio(paths[0], result["wavs"])
        write_audio(paths[1], result["explanation"])
        save_explanation_figure(
            paths[2],
            result["magnitude"],
            result["mask"],
            title=f"{stem}: {result['label']} (p={result['probability']:.2f})",
            domain=self.mask_domain,
        )
        if len(result.get("windows", ())) > 1:
            paths.append(os.path.join(out_dir, f"{stem}_decisions.csv"))
            table = io.StringIO()
            writer = csv.writer(table, lineterminator="\n")
            writer.writerow(["start_s", "end_s", "label", "probability"])
            for w in result["windows"]:
                writer.writerow(
                    [
                        f"{w['start_s']:.3f}",
                        f"{w['end_s']:.3f}",
                        w["label"],
                        f"{w['probability']:.4f}",
                    ]
                )
            atomic_write_text(paths[3], table.getvalue())
        return paths
