"""The AND pipeline as resumable stages over one output folder (METHODS.md, "AND").

Every stage writes its result file atomically and is skipped when that file is already there, so a run that is
killed and started again redoes no finished work. Stages that call a model once per clip or per neuron
(captions, summaries, ICL answers, pruning runs) append each result to ``<stage>.partial.jsonl`` and resume from
it. Stage files in ``output_folder``:

=========================  ===========================================================================
``probing.json``           the probing clips (ids, labels), layers and pooling; a rerun must match it
``activations.pt``         ``{layer: [N_clips, N_neurons]}``; under torchrun each rank writes
                           ``activations.rank<r>.pt`` for its block of clips and rank 0 merges them
``descriptions.json``      one caption per clip, in activation row order (sharded like the activations)
``top_k.json``             per neuron the K highest / lowest activated clips (row indices)
``closed_db.pt``           Module A, DB scores ``{layer: [N_neurons, N_concepts]}``
``clap_embeddings.pt``,    Module A, TAB (only with an audio-text encoder)
``closed_tab.pt``
``summaries.json``         Module B: highly / lowly summaries and the calibrated summary per neuron
``closed_icl.json``        Module A, ICL: the concept the summariser / LLM picks per neuron
``open_concepts.json``     Module C: open-vocabulary concepts of the calibrated summaries
``pruning.json``           concept-specific pruning per strategy and target, with a random control
``uninterpretable.json``,  analysis: share of uninterpretable neurons per layer
``uninterpretable.png``
=========================  ===========================================================================

Assembled from them on every run: ``neurons_<layer>.json`` (everything known about each neuron) and
``test_metrics.json``. To redo a stage, delete its file and the files of the stages after it.
"""
import contextlib
import functools
import inspect
import json
import logging
import math
import os
from dataclasses import dataclass

import torch
from tqdm import tqdm

from interpretability.dissection.activations import (
    capture_activations, load_activations, merge_activation_shards, save_activations, shard_indices, shard_path,
)
from interpretability.dissection.analysis import description_clusters, plot_uninterpretable, uninterpretable_neurons
from interpretability.dissection.calibration import calibrate_neuron
from interpretability.dissection.concepts import (
    TOP_K, concept_texts, description_based_scores, last_layer_accuracy, rank_concepts, tab_scores, top_k_indices,
)
from interpretability.dissection.encoders import TextEncoder
from interpretability.dissection.open_concepts import extract_open_concepts
from interpretability.dissection.pruning import STRATEGIES, ablate, random_control, select_neurons
from interpretability.dissection.summarizers import DEFAULT_ICL_EXAMPLES, ExtractiveSummarizer, normalize_phrase
from interpretability.errors import InputError
from interpretability.results import atomic_torch_save, atomic_write_json, write_stage_metrics
from interpretability.spectral import magnitude_phase

logger = logging.getLogger(__name__)

EXTRACTIVE_CALIBRATION_THRESHOLD = 0.97   # templated summaries: only identical sentences (see calibration.py)
LLM_CALIBRATION_THRESHOLD = 0.5           # the AND paper's value for free-text LLM summaries
OPTIONAL_STAGES = ("tab", "summaries", "icl", "open_concepts", "pruning", "analysis")


# ------------------------------------------------------------------------------------------ options, data
@dataclass
class DissectionOptions:
    """What to dissect and how (the recipe hparams of the same names).

    ``layers`` are dotted module paths; ``output_layer`` (one of them, the classifier's logits) is where each neuron
    has a known class (its class index) for the last-layer accuracy. ``neurons_per_layer`` limits Modules B / C and
    ICL (the per-neuron summariser / LLM calls) to the first N neurons of each hidden layer; the output layer is
    always complete. ``pruning_targets`` None prunes for every class; ``pruning_layers`` None prunes in the last
    dissected layer before the output layer. ``calibration_threshold`` None is tied to the summariser: 0.97 for the
    extractive one, 0.5 for an LLM. ``db_centering`` subtracts from each concept's DB score its mean similarity with
    all probing descriptions (a concept-prior correction like WPMI's ``- lambda log p(c)``; off in the paper).
    ``tau`` (a value or a list; the first is reported as ``uninterpretable``) is the share of a neuron's top-K clips
    one description cluster must hold for the neuron to count as interpretable; ``cluster_unit`` clusters whole
    descriptions (default) or their sentences (see :mod:`.analysis`). ``skip`` names optional stages not
    to run (:data:`OPTIONAL_STAGES`).
    """

    layers: list
    output_layer: str = "head"
    pooling: str = "mean"
    neuron_axes: dict = None
    k: int = TOP_K
    batch_size: int = 16
    describe_batch_size: int = 8
    concepts: list = None
    concept_template: str = "{}"
    db_centering: bool = False
    tab_similarity: str = "soft_wpmi"
    tab_options: dict = None
    icl_examples: tuple = DEFAULT_ICL_EXAMPLES
    neurons_per_layer: int = None
    calibration_threshold: float = None
    include_nouns_verbs: bool = False
    pruning_targets: list = None
    pruning_strategies: tuple = ("db",)
    pruning_layers: list = None
    pruning_top_n: int = 1
    pruning_match_threshold: float = 0.8
    random_repeats: int = 3
    random_exclude_selected: bool = True
    n_clusters: int = 10
    cluster_unit: str = "description"
    tau: object = 0.6
    seed: int = 0
    skip: tuple = ()
    progress: bool = True

    def __post_init__(self):
        if isinstance(self.layers, str):
            self.layers = [self.layers]
        self.layers = list(self.layers or [])
        if not self.layers:
            raise InputError("no layers to dissect: give 'layers' (dotted module paths)")
        if len(set(self.layers)) != len(self.layers):
            raise InputError(f"layers are listed twice: {self.layers}")
        unknown = set(self.skip) - set(OPTIONAL_STAGES)
        if unknown:
            raise InputError(f"cannot skip stages {sorted(unknown)}; optional stages: {OPTIONAL_STAGES}")
        bad = set(self.pruning_strategies) - set(STRATEGIES)
        if bad:
            raise InputError(f"unknown pruning strategies {sorted(bad)}; known: {STRATEGIES}")
        if self.k < 1:
            raise InputError(f"top_k must be at least 1, got {self.k}")
        if self.cluster_unit not in ("description", "sentence"):
            raise InputError(f"cluster_unit must be 'description' or 'sentence', got {self.cluster_unit!r}")


class ProbingSet:
    """The probing clips: ``ids``, labels and 16 kHz waveforms ``[samples]`` of one common length.

    Arguments
    ---------
    ids : list[str]
    load : callable
        ``load(index) -> Tensor [samples]``.
    labels : list
        Class index per clip, or (``multilabel``) a 0/1 list over ``classes`` per clip.
    classes : list[str]
    multilabel : bool
    cache_bytes : int
        Waveforms are kept in memory up to this size (pruning reads every clip several times).
    """

    def __init__(self, ids, load, labels, classes, multilabel=False, cache_bytes=512 * 2**20):
        if len(ids) != len(labels):
            raise ValueError(f"{len(ids)} ids for {len(labels)} labels")
        if len(set(ids)) != len(ids):
            raise InputError("the probing set holds a clip id twice")
        self.ids, self.labels, self.classes = list(ids), list(labels), list(classes)
        self.multilabel = bool(multilabel)
        self._load = load
        self._cache, self._cached_bytes, self.cache_bytes = {}, 0, int(cache_bytes)

    def __len__(self):
        return len(self.ids)

    def wav(self, index):
        if index in self._cache:
            return self._cache[index]
        wav = self._load(index)
        if self._cached_bytes + wav.numel() * 4 <= self.cache_bytes:
            self._cache[index] = wav
            self._cached_bytes += wav.numel() * 4
        return wav

    @classmethod
    def from_tensors(cls, ids, wavs, labels, classes, multilabel=False):
        """From waveforms in memory (zero-padded to the longest)."""
        length = max(int(w.shape[-1]) for w in wavs)
        wavs = [torch.nn.functional.pad(w.float().reshape(-1), (0, length - w.shape[-1])) for w in wavs]
        return cls(ids, lambda i: wavs[i], labels, classes, multilabel)

    @classmethod
    def from_datasets(cls, datasets, classes, multilabel=False, max_clips=None, seed=0):
        """From SpeechBrain datasets of :func:`~interpretability.data.pipelines.classification_datasets`.

        ``max_clips`` keeps a seeded random subset (in dataset order) for small runs.
        """
        entries, ids, labels = [], [], []
        label_key = "target_vector" if multilabel else "class_id"
        for dataset in datasets:
            with dataset.output_keys_as(["id", label_key]):
                for position in range(len(dataset)):
                    item = dataset[position]
                    value = item[label_key]
                    labels.append([int(round(float(v))) for v in value] if multilabel else int(value.reshape(-1)[0]))
                    ids.append(item["id"])
                    entries.append((dataset, position))
        if not ids:
            raise InputError("the probing splits hold no clips")
        if max_clips is not None and max_clips < len(ids):
            generator = torch.Generator().manual_seed(int(seed))
            keep = sorted(torch.randperm(len(ids), generator=generator)[:int(max_clips)].tolist())
            entries, ids, labels = [entries[i] for i in keep], [ids[i] for i in keep], [labels[i] for i in keep]

        def load(index):
            dataset, position = entries[index]
            with dataset.output_keys_as(["sig"]):
                return dataset[position]["sig"].float()

        return cls(ids, load, labels, classes, multilabel)


# ------------------------------------------------------------------------------------------ backends
def _is_factory(obj, method):
    if isinstance(obj, (type, functools.partial)):
        return True
    return not hasattr(obj, method) and callable(obj)


def _accepts(factory, name):
    target = factory.func if isinstance(factory, functools.partial) else factory
    if isinstance(factory, functools.partial) and name in factory.keywords:
        return False
    try:
        return name in inspect.signature(target).parameters
    except (TypeError, ValueError):
        return False


class CachedTextEncoder(TextEncoder):
    """Memoises a text encoder per text: DB, calibration, ICL and clustering encode the same sentences often."""

    def __init__(self, encoder):
        self.encoder = encoder
        self._cache = {}

    def encode(self, texts):
        if isinstance(texts, str):
            raise TypeError("expected a list of strings, got a single string")
        texts = list(texts)
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            for text, row in zip(missing, self.encoder.encode(missing)):
                self._cache[text] = row
        if not texts:
            return self.encoder.encode([])
        return torch.stack([self._cache[t] for t in texts])


class Backends:
    """The pluggable models, each built on first use (a skipped stage loads nothing).

    Each argument is an instance, a factory (a class or ``functools.partial``, e.g. hyperpyyaml's ``!name:``; a
    summariser factory that takes ``text_encoder`` gets the shared one), or None: the offline default
    (:class:`AcousticCaptioner`, :class:`ExtractiveSummarizer`, :class:`SentenceEncoder`,
    :class:`SpacyTagger` with ``spacy_model``); ``audio_text_encoder`` None turns TAB off.
    """

    def __init__(self, captioner=None, summarizer=None, text_encoder=None, audio_text_encoder=None, pos_tagger=None,
                 spacy_model=None):
        self._given = {"captioner": captioner, "summarizer": summarizer, "text_encoder": text_encoder,
                       "audio_text_encoder": audio_text_encoder, "pos_tagger": pos_tagger}
        self._built = {}
        self.spacy_model = spacy_model

    def _get(self, name, method, default):
        if name not in self._built:
            given = self._given[name]
            if given is None:
                built = default()
            elif _is_factory(given, method):
                kwargs = {}
                if name == "summarizer" and _accepts(given, "text_encoder"):
                    kwargs["text_encoder"] = self.text_encoder
                logger.info("building the %s backend", name.replace("_", " "))
                built = given(**kwargs)
            else:
                built = given
            self._built[name] = built
        return self._built[name]

    @property
    def captioner(self):
        from interpretability.dissection.captioners import AcousticCaptioner

        return self._get("captioner", "describe", AcousticCaptioner)

    @property
    def text_encoder(self):
        from interpretability.dissection.encoders import SentenceEncoder

        encoder = self._get("text_encoder", "encode", SentenceEncoder)
        if not isinstance(encoder, CachedTextEncoder):
            encoder = self._built["text_encoder"] = CachedTextEncoder(encoder)
        return encoder

    @property
    def summarizer(self):
        return self._get("summarizer", "summarize", lambda: ExtractiveSummarizer(text_encoder=self.text_encoder))

    @property
    def has_audio_text_encoder(self):
        return self._given["audio_text_encoder"] is not None

    @property
    def audio_text_encoder(self):
        return self._get("audio_text_encoder", "encode_audio", lambda: None)

    @property
    def pos_tagger(self):
        from interpretability.dissection.pos import SpacyTagger

        return self._get("pos_tagger", "tag", lambda: SpacyTagger(self.spacy_model))


# ------------------------------------------------------------------------------------------ helpers
def _distributed():
    """``(rank, world_size)``; ``(0, 1)`` outside torchrun."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _barrier():
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()


def _plain(value):
    """JSON-safe: NaN / inf to None, tensors to lists."""
    if isinstance(value, torch.Tensor):
        value = value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _read_json(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _mean(values):
    values = [v for v in values if v is not None and math.isfinite(v)]
    return sum(values) / len(values) if values else float("nan")


class PartialRecords:
    """Per-item results of a stage appended as JSON lines to ``path``, so a killed stage resumes.

    On open the valid lines are read (``key`` fields identify an item) and a line cut short by a kill is dropped
    from the file; :meth:`append` writes one record and flushes it.
    """

    def __init__(self, path, key):
        self.path, self.key = path, tuple(key)
        self.records = {}
        valid = []
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as handle:
                for line in handle:
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError:
                        continue
                    if isinstance(record, dict) and all(k in record for k in self.key):
                        self.records[self.key_of(record)] = record
                        valid.append(line if line.endswith("\n") else line + "\n")
            with open(path, "w", encoding="utf-8") as handle:   # drop a truncated tail before appending
                handle.writelines(valid)
            logger.info("%s: resuming after %d finished items", path, len(self.records))
        self._handle = None

    def key_of(self, record):
        return tuple(record[k] for k in self.key)

    def __contains__(self, key):
        return tuple(key) in self.records

    def append(self, record):
        if self._handle is None:
            self._handle = open(self.path, "a", encoding="utf-8")
        self._handle.write(json.dumps(_plain(record)) + "\n")
        self._handle.flush()
        self.records[self.key_of(record)] = record

    def close(self, remove=False):
        if self._handle is not None:
            os.fsync(self._handle.fileno())
            self._handle.close()
            self._handle = None
        if remove and os.path.exists(self.path):
            os.remove(self.path)


def layer_file_name(layer):
    """``neurons_<layer>.json`` for a dotted layer path."""
    return f"neurons_{layer}.json"


# ------------------------------------------------------------------------------------------ the pipeline
class Dissection:
    """AND over a model and a probing set, writing its stages to ``output_folder``.

    Arguments
    ---------
    model : nn.Module
        Maps a magnitude spectrogram ``[B, T, F]`` to logits ``[B, C]`` (``SpectrogramClassifier``,
        ``ASTClassifier``); set to eval mode here. ``model.multilabel`` picks sigmoid confidences.
    probing : ProbingSet
    output_folder : str
    options : DissectionOptions
    backends : Backends or None
    output_classes : list[str] or None
        Class name of each model output (the probing classes when None).
    device : str or None
    cache_bytes : int
        Magnitude spectrograms of the probing clips are kept in memory up to this size (pruning reads every clip
        once per ablation).
    """

    def __init__(self, model, probing, output_folder, options, backends=None, output_classes=None, device=None,
                 cache_bytes=512 * 2**20):
        self.model = model.eval()
        self.probing = probing
        self.folder = output_folder
        self.options = options
        self.backends = backends or Backends()
        self.device = device
        self.output_classes = list(output_classes or probing.classes)
        self.concepts = list(options.concepts or probing.classes)
        if not self.concepts:
            raise InputError("empty concept set")
        self.multilabel = bool(getattr(model, "multilabel", probing.multilabel))
        os.makedirs(output_folder, exist_ok=True)
        self.rank, self.world_size = _distributed()
        self.cache_bytes = int(cache_bytes)
        self._magnitudes, self._magnitude_bytes = {}, 0
        self._intact = None

    # ---------------------------------------------------------------------------------- plumbing
    def path(self, name):
        return os.path.join(self.folder, name)

    def _done(self, name):
        if os.path.isfile(self.path(name)):
            logger.info("stage file %s is there: stage skipped", name)
            return True
        return False

    def _magnitude(self, index):
        """Magnitude spectrogram ``[T, F]`` of a probing clip (kept in memory up to ``cache_bytes``)."""
        if index in self._magnitudes:
            return self._magnitudes[index]
        magnitude = magnitude_phase(self.probing.wav(index))[0]
        if self._magnitude_bytes + magnitude.numel() * 4 <= self.cache_bytes:
            self._magnitudes[index] = magnitude
            self._magnitude_bytes += magnitude.numel() * 4
        return magnitude

    def _batches(self, indices):
        """``(ids, magnitude [B, T, F])`` over the probing clips at ``indices``."""
        indices = list(indices)
        for start in range(0, len(indices), self.options.batch_size):
            chunk = indices[start:start + self.options.batch_size]
            yield [self.probing.ids[i] for i in chunk], torch.stack([self._magnitude(i) for i in chunk])

    def _logits(self, indices, ablation=None):
        """Logits ``[len(indices), C]`` of probing clips, with the neurons of ``ablation`` (``{layer: ids}``) zeroed."""
        rows = []
        context = ablate(self.model, ablation, self.options.neuron_axes) if ablation else contextlib.nullcontext()
        with torch.no_grad(), context:
            for _, magnitude in self._batches(indices):
                if self.device is not None:
                    magnitude = magnitude.to(self.device)
                rows.append(self.model(magnitude).float().cpu())
        return torch.cat(rows)

    def _work(self, per_layer_neurons):
        return [(layer, n) for layer, neurons in per_layer_neurons.items() for n in neurons]

    def _summarised_neurons(self, widths):
        """``{layer: neuron ids}`` that Modules B / C and ICL describe."""
        limit = self.options.neurons_per_layer
        return {layer: list(range(width if limit is None or layer == self.options.output_layer
                                  else min(width, int(limit))))
                for layer, width in widths.items()}

    # ---------------------------------------------------------------------------------- stages
    def check_probing(self):
        """Write ``probing.json``, or check that this folder's earlier stages used the same clips and layers."""
        record = {"ids": self.probing.ids, "labels": self.probing.labels, "classes": self.probing.classes,
                  "multilabel": self.probing.multilabel, "layers": self.options.layers,
                  "pooling": self.options.pooling, "k": self.options.k}
        path = self.path("probing.json")
        if self.rank == 0:
            if os.path.isfile(path):
                previous = _read_json(path)
                changed = [key for key in record if previous.get(key) != _plain(record[key])]
                if changed:
                    raise InputError(f"{path}: this output folder holds a dissection with other {', '.join(changed)}; "
                                     "use another output folder (or delete its stage files)")
            else:
                atomic_write_json(path, _plain(record))
        _barrier()

    def activations(self):
        """Stage 1: pooled activations of every layer over the probing set (sharded per rank under torchrun)."""
        if self._done("activations.pt"):
            return load_activations(self.path("activations.pt"))
        n = len(self.probing)
        if self.world_size == 1:
            activations = self._capture(range(n))
            save_activations(self.path("activations.pt"), activations)
            return activations
        shards = [shard_path(self.folder, r) for r in range(self.world_size)
                  if len(shard_indices(n, r, self.world_size))]
        mine = shard_indices(n, self.rank, self.world_size)
        if len(mine) and not os.path.isfile(shard_path(self.folder, self.rank)):
            save_activations(shard_path(self.folder, self.rank), self._capture(mine))
        _barrier()
        if self.rank == 0:
            merged = merge_activation_shards(shards)
            if merged.ids != self.probing.ids:
                raise InputError(f"{self.folder}: activation shards do not cover the probing clips in order")
            save_activations(self.path("activations.pt"), merged)
            for shard in shards:
                os.remove(shard)
        _barrier()
        return load_activations(self.path("activations.pt"))

    def _capture(self, indices):
        if self.device is not None:
            self.model.to(self.device)
        return capture_activations(self.model, self.options.layers, self._batches(indices),
                                   pooling=self.options.pooling, neuron_axes=self.options.neuron_axes,
                                   device=self.device, progress=self.options.progress)

    def descriptions(self):
        """Stage 2: one caption per probing clip (per rank under torchrun, resumable per clip)."""
        if self._done("descriptions.json"):
            return self._load_descriptions()
        n = len(self.probing)
        mine = shard_indices(n, self.rank, self.world_size)
        partial = PartialRecords(self._descriptions_partial(self.rank), ("id",))
        todo = [i for i in mine if (self.probing.ids[i],) not in partial]
        if todo:
            captioner = self.backends.captioner
            step = max(1, self.options.describe_batch_size)
            with tqdm(total=len(todo), desc="descriptions", disable=not self.options.progress) as bar:
                for start in range(0, len(todo), step):
                    chunk = todo[start:start + step]
                    texts = captioner.describe_batch([self.probing.wav(i) for i in chunk])
                    for i, text in zip(chunk, texts):
                        partial.append({"id": self.probing.ids[i], "description": text})
                    bar.update(len(chunk))
        partial.close()
        _barrier()
        if self.rank == 0:
            records = dict(partial.records)
            for r in range(1, self.world_size):
                records.update(PartialRecords(self._descriptions_partial(r), ("id",)).records)
            missing = [i for i in self.probing.ids if (i,) not in records]
            if missing:
                raise RuntimeError(f"no description for clips {missing[:5]}")
            atomic_write_json(self.path("descriptions.json"), {
                "ids": self.probing.ids, "descriptions": [records[(i,)]["description"] for i in self.probing.ids]})
            for r in range(self.world_size):
                if os.path.exists(self._descriptions_partial(r)):
                    os.remove(self._descriptions_partial(r))
        _barrier()
        return self._load_descriptions()

    def _descriptions_partial(self, rank):
        suffix = f".rank{rank}" if self.world_size > 1 else ""
        return self.path(f"descriptions{suffix}.partial.jsonl")

    def _load_descriptions(self):
        data = _read_json(self.path("descriptions.json"))
        if data["ids"] != self.probing.ids:
            raise InputError(f"{self.path('descriptions.json')}: describes other clips than the probing set")
        return data["descriptions"]

    def top_k(self, activations):
        """Stage 3: the K highest and lowest activated clips of every neuron (row indices, most extreme first)."""
        if not self._done("top_k.json"):
            n, k = len(activations.ids), self.options.k
            if n < k:
                raise InputError(f"the probing set holds {n} clips; top-{k} needs at least {k}")
            atomic_write_json(self.path("top_k.json"), {"k": k, "layers": {
                layer: {"top": top_k_indices(a, k, largest=True).tolist(),
                        "bottom": top_k_indices(a, k, largest=False).tolist()}
                for layer, a in activations.items()}})
        data = _read_json(self.path("top_k.json"))
        return {layer: {side: torch.tensor(v, dtype=torch.long) for side, v in sides.items()}
                for layer, sides in data["layers"].items()}

    def closed_db(self, descriptions, top):
        """Module A, DB: similarity of each neuron's top-K descriptions with the concepts."""
        if not self._done("closed_db.pt"):
            encoder = self.backends.text_encoder
            embeddings = encoder.encode(descriptions)
            concepts = encoder.encode(concept_texts(self.concepts, self.options.concept_template))
            baseline = (embeddings @ concepts.T).mean(dim=0) if self.options.db_centering else 0.0
            scores = {layer: description_based_scores(embeddings, sides["top"], concepts) - baseline
                      for layer, sides in top.items()}
            atomic_torch_save(self.path("closed_db.pt"), {"concepts": self.concepts, "centred":
                                                          bool(self.options.db_centering), "scores": scores})
        return torch.load(self.path("closed_db.pt"), weights_only=True)["scores"]

    def closed_tab(self, activations):
        """Module A, TAB: CLAP clip-concept similarities combined with the activations (needs an audio-text encoder)."""
        if "tab" in self.options.skip or not self.backends.has_audio_text_encoder:
            logger.info("TAB skipped (%s)", "skip" if "tab" in self.options.skip else "no audio-text encoder")
            return None
        if not self._done("closed_tab.pt"):
            if not self._done("clap_embeddings.pt"):
                clap = self.backends.audio_text_encoder
                audio = clap.encode_audio([self.probing.wav(i) for i in range(len(self.probing))])
                text = clap.encode_text(concept_texts(self.concepts, self.options.concept_template))
                atomic_torch_save(self.path("clap_embeddings.pt"), {"ids": self.probing.ids, "audio": audio,
                                                                    "concepts": self.concepts, "text": text})
            embeddings = torch.load(self.path("clap_embeddings.pt"), weights_only=True)
            scores = {layer: tab_scores(a, embeddings["audio"], embeddings["text"], self.options.tab_similarity,
                                        **(self.options.tab_options or {}))
                      for layer, a in activations.items()}
            atomic_torch_save(self.path("closed_tab.pt"), {"concepts": self.concepts, "similarity":
                                                           self.options.tab_similarity, "scores": scores})
        return torch.load(self.path("closed_tab.pt"), weights_only=True)["scores"]

    def calibration_threshold(self):
        if self.options.calibration_threshold is not None:
            return float(self.options.calibration_threshold)
        if isinstance(self.backends.summarizer, ExtractiveSummarizer):
            return EXTRACTIVE_CALIBRATION_THRESHOLD
        return LLM_CALIBRATION_THRESHOLD

    def summaries(self, descriptions, top, widths):
        """Module B: summaries of each neuron's highly / lowly activated descriptions, and the calibrated summary."""
        if "summaries" in self.options.skip:
            return None
        if not self._done("summaries.json"):
            threshold = self.calibration_threshold()
            partial = PartialRecords(self.path("summaries.partial.jsonl"), ("layer", "neuron"))
            todo = [(l, n) for l, n in self._work(self._summarised_neurons(widths)) if (l, n) not in partial]
            if todo:
                summarizer, encoder = self.backends.summarizer, self.backends.text_encoder
                for layer, neuron in tqdm(todo, desc="summaries", disable=not self.options.progress):
                    highly = [descriptions[i] for i in top[layer]["top"][neuron].tolist()]
                    lowly = [descriptions[i] for i in top[layer]["bottom"][neuron].tolist()]
                    partial.append({"layer": layer, "neuron": neuron,
                                    **calibrate_neuron(summarizer, encoder, highly, lowly, threshold)})
            partial.close()
            atomic_write_json(self.path("summaries.json"), {"threshold": threshold,
                                                            "layers": self._by_layer(partial.records, widths)})
            partial.close(remove=True)
        return self._int_keys(_read_json(self.path("summaries.json"))["layers"])

    def closed_icl(self, summaries, descriptions, top):
        """Module A, ICL: the summariser / LLM picks the concept matching each neuron's highly-activated summary."""
        if "icl" in self.options.skip or summaries is None:
            return None
        if not self._done("closed_icl.json"):
            partial = PartialRecords(self.path("closed_icl.partial.jsonl"), ("layer", "neuron"))
            todo = [(l, n) for l in summaries for n in summaries[l] if (l, n) not in partial]
            if todo:
                summarizer = self.backends.summarizer
                if isinstance(summarizer, ExtractiveSummarizer):   # its ICL embeds the summaries: embed them at once
                    self.backends.text_encoder.encode(sorted({summaries[l][n]["highly_summary"] for l, n in todo}))
                for layer, neuron in tqdm(todo, desc="ICL", disable=not self.options.progress):
                    summary = summaries[layer][neuron]["highly_summary"]
                    if not summary.strip():   # nothing shared: let the model read the descriptions themselves
                        summary = [descriptions[i] for i in top[layer]["top"][neuron].tolist()]
                    concept = summarizer.choose_concept(summary, self.concepts, self.options.icl_examples)
                    partial.append({"layer": layer, "neuron": neuron, "concept": concept})
            partial.close()
            widths = {layer: max(neurons) + 1 for layer, neurons in summaries.items() if neurons}
            atomic_write_json(self.path("closed_icl.json"), {"concepts": self.concepts,
                                                             "layers": self._by_layer(partial.records, widths)})
            partial.close(remove=True)
        return {layer: {n: r["concept"] for n, r in neurons.items()}
                for layer, neurons in self._int_keys(_read_json(self.path("closed_icl.json"))["layers"]).items()}

    def open_concepts(self, summaries):
        """Module C: open-vocabulary concepts (POS-tagged words) of each calibrated summary."""
        if "open_concepts" in self.options.skip or summaries is None:
            return None
        if not self._done("open_concepts.json"):
            tagger, found, cache = self.backends.pos_tagger, {}, {}
            for layer, neurons in summaries.items():
                found[layer] = {}
                for neuron, record in tqdm(neurons.items(), desc=f"open concepts {layer}",
                                           disable=not self.options.progress):
                    text = record["calibrated_summary"]
                    if text not in cache:
                        cache[text] = dict(extract_open_concepts(text, tagger, self.options.include_nouns_verbs)
                                           .most_common())
                    found[layer][neuron] = cache[text]
            atomic_write_json(self.path("open_concepts.json"), {"layers": _plain(found)})
        return self._int_keys(_read_json(self.path("open_concepts.json"))["layers"])

    def pruning(self, widths, db, tab, open_concepts):
        """Use case: ablate the neurons whose concept matches each target, against random neurons of the same size."""
        if "pruning" in self.options.skip:
            return None
        targets = self.probing.classes if self.options.pruning_targets is None else list(self.options.pruning_targets)
        if not targets:
            return None
        if not self._done("pruning.json"):
            layers = self.pruning_layers()
            missing = [l for l in layers if l not in widths]
            if missing:
                raise InputError(f"pruning layers {missing} are not among the dissected layers {list(widths)}")
            sources = {"db": db, "tab": tab, "open": open_concepts}
            partial = PartialRecords(self.path("pruning.partial.jsonl"), ("strategy", "target"))
            encoder = self.backends.text_encoder
            for strategy in self.options.pruning_strategies:
                if sources[strategy] is None:
                    logger.warning("pruning by %s skipped: that stage did not run", strategy)
                    continue
                neuron_concepts = self._neuron_concepts(strategy, sources[strategy], layers)
                for target in targets:
                    if (strategy, target) in partial:
                        continue
                    selected = select_neurons(neuron_concepts, target, strategy, text_encoder=encoder,
                                              threshold=self.options.pruning_match_threshold,
                                              top_n=self.options.pruning_top_n)
                    partial.append({"strategy": strategy, "target": target, "layers": layers, "selected": selected,
                                    **self._pruning_run(target, selected, {l: widths[l] for l in layers})})
            partial.close()
            results = {}
            for (strategy, target), record in partial.records.items():
                results.setdefault(strategy, {})[target] = {k: v for k, v in record.items()
                                                            if k not in ("strategy", "target")}
            atomic_write_json(self.path("pruning.json"), {"targets": targets, "strategies": _plain(results)})
            partial.close(remove=True)
        return _read_json(self.path("pruning.json"))["strategies"]

    def pruning_layers(self):
        """``pruning_layers``, or by default the last dissected layer before the output layer."""
        if self.options.pruning_layers:
            return list(self.options.pruning_layers)
        hidden = [l for l in self.options.layers if l != self.options.output_layer]
        if not hidden:
            raise InputError("no hidden layer to prune: add one to 'layers' or give 'pruning_layers'")
        return hidden[-1:]

    def _neuron_concepts(self, strategy, source, layers):
        if strategy == "open":
            return {layer: source.get(layer, {}) for layer in layers}
        top = max(self.options.pruning_top_n, 1)
        return {layer: dict(enumerate(rank_concepts(source[layer], self.concepts, top=top))) for layer in layers}

    def _target_labels(self, target):
        """``(output index of the target, {clip id: output index of its own class})`` for the pruning runs.

        Multi-label: a clip where the target is present counts for the target; any other clip for its first present
        class (clips with no present class are left out).
        """
        outputs = {normalize_phrase(c): i for i, c in enumerate(self.output_classes)}
        if normalize_phrase(target) not in outputs:
            return None, {}
        target_output = outputs[normalize_phrase(target)]
        to_output = [outputs.get(normalize_phrase(c)) for c in self.probing.classes]
        labels = {}
        for clip, label in zip(self.probing.ids, self.probing.labels):
            if self.probing.multilabel:
                present = [to_output[c] for c, v in enumerate(label) if v and to_output[c] is not None]
                own = target_output if target_output in present else (present[0] if present else None)
            else:
                own = to_output[label]
            if own is not None:
                labels[clip] = own
        return target_output, labels

    def _pruning_run(self, target, selected, widths):
        target_output, labels = self._target_labels(target)
        n_selected = sum(len(v) for v in selected.values())
        if target_output is None or not labels:
            logger.warning("pruning target %r is no output class of the model: no confidence change measured", target)
            return {"n_neurons": n_selected, "effect": None, "random": None}
        if n_selected == 0:
            return {"n_neurons": 0, "effect": None, "random": None}
        if self._intact is None:   # the intact model's logits, computed once for every target and control
            self._intact = self._logits(range(len(self.probing)))
        indices = [i for i, clip in enumerate(self.probing.ids) if clip in labels]
        own = torch.tensor([labels[self.probing.ids[i]] for i in indices])
        intact = self._intact[indices]

        def effect(ablation):
            return confidence_changes(intact, self._logits(indices, ablation), own, target_output, self.multilabel,
                                      n_neurons=sum(len(set(v)) for v in ablation.values()))

        measured = effect(selected)
        exclude = self.options.random_exclude_selected and all(
            2 * len(set(ids)) <= widths[layer] for layer, ids in selected.items())
        if self.options.random_exclude_selected and not exclude:
            logger.info("target %r: over half of a layer's neurons selected; the random control draws among all",
                        target)
        controls = [effect(random_control(selected, widths, seed=self.options.seed + r, exclude_selected=exclude))
                    for r in range(max(1, self.options.random_repeats))]
        keys = ("delta_A", "delta_R", "delta_A_logit", "delta_R_logit")
        return {"n_neurons": n_selected, "effect": measured,
                "random": {**{k: _mean([c[k] for c in controls]) for k in keys}, "repeats": len(controls)}}

    def analysis(self, descriptions, top):
        """Analysis: share of uninterpretable neurons per layer for each tau (K-means over description sentences),
        and a plot of it."""
        if "analysis" in self.options.skip:
            return None
        taus = self.taus()
        if not self._done("uninterpretable.json"):
            clusters = description_clusters(descriptions, self.backends.text_encoder, self.options.n_clusters,
                                            seed=self.options.seed, unit=self.options.cluster_unit)
            flags = {f"{tau:g}": {layer: uninterpretable_neurons(sides["top"], clusters, tau).tolist()
                                  for layer, sides in top.items()} for tau in taus}
            shares = {t: {layer: sum(f) / len(f) for layer, f in per_layer.items()} for t, per_layer in flags.items()}
            atomic_write_json(self.path("uninterpretable.json"), {
                "taus": taus, "n_clusters": self.options.n_clusters, "cluster_unit": self.options.cluster_unit,
                "shares": shares,
                "clip_clusters": [sorted(c) for c in clusters], "uninterpretable": flags})
        data = _read_json(self.path("uninterpretable.json"))
        if not os.path.isfile(self.path("uninterpretable.png")):
            plot_uninterpretable({f"tau = {t}": s for t, s in data["shares"].items()},
                                 self.path("uninterpretable.png"))
        return data

    def taus(self):
        taus = self.options.tau if isinstance(self.options.tau, (list, tuple)) else [self.options.tau]
        return [float(t) for t in taus]

    # ---------------------------------------------------------------------------------- assembly
    @staticmethod
    def _by_layer(records, widths):
        layers = {layer: {} for layer in widths}
        for (layer, neuron), record in sorted(records.items(), key=lambda kv: (list(widths).index(kv[0][0])
                                                                               if kv[0][0] in widths else 0,
                                                                               kv[0][1])):
            layers.setdefault(layer, {})[str(neuron)] = {k: v for k, v in record.items()
                                                         if k not in ("layer", "neuron")}
        return layers

    @staticmethod
    def _int_keys(layers):
        return {layer: {int(n): v for n, v in neurons.items()} for layer, neurons in layers.items()}

    def true_classes(self, width):
        """Known class of each output neuron: its class name when it is in the concept set, else None."""
        concepts = {normalize_phrase(c) for c in self.concepts}
        names = self.output_classes[:width] + [None] * max(0, width - len(self.output_classes))
        return [name if name is not None and normalize_phrase(name) in concepts else None for name in names]

    def write_neuron_files(self, activations, descriptions, top, closed, summaries, open_concepts, analysis):
        """``neurons_<layer>.json``: per neuron its top / bottom clips with descriptions, summaries and concepts."""
        ids = activations.ids
        for layer, values in activations.items():
            truth = self.true_classes(values.shape[1]) if layer == self.options.output_layer else None
            neurons = []
            for neuron in range(values.shape[1]):
                entry = {"id": neuron}
                if truth is not None:
                    entry["true_class"] = truth[neuron]
                for side, name in (("top", "top_clips"), ("bottom", "bottom_clips")):
                    entry[name] = [{"id": ids[i], "activation": round(float(values[i, neuron]), 6),
                                    "description": descriptions[i]} for i in top[layer][side][neuron].tolist()]
                summary = (summaries or {}).get(layer, {}).get(neuron)
                if summary is not None:
                    entry.update({k: summary[k] for k in ("highly_summary", "lowly_summary", "calibrated_summary",
                                                          "removed")})
                if open_concepts is not None and neuron in open_concepts.get(layer, {}):
                    entry["open_concepts"] = open_concepts[layer][neuron]
                entry["closed_concepts"] = {}
                for method, scores in closed.items():
                    if scores is None:
                        continue
                    if method == "ICL":
                        if neuron in scores.get(layer, {}):
                            entry["closed_concepts"]["ICL"] = scores[layer][neuron]
                        continue
                    row = scores[layer][neuron]
                    best = torch.sort(row, descending=True, stable=True).indices[:5].tolist()
                    entry["closed_concepts"][method] = [{"concept": self.concepts[j], "score": round(float(row[j]), 6)}
                                                        for j in best]
                if analysis is not None:
                    entry["uninterpretable"] = {t: bool(flags[layer][neuron])
                                                for t, flags in analysis["uninterpretable"].items()}
                neurons.append(entry)
            atomic_write_json(self.path(layer_file_name(layer)), {
                "layer": layer, "pooling": activations.pooling, "k": self.options.k, "concepts": self.concepts,
                "neurons": neurons})

    def last_layer_accuracy(self, widths, closed):
        """``({method: top-1}, {method: top-5})`` on the output layer (neurons of classes outside the concept set
        are left out)."""
        layer = self.options.output_layer
        if layer not in widths:
            logger.warning("output layer %r is not dissected: no last-layer accuracy", layer)
            return {}, {}
        truth = self.true_classes(widths[layer])
        if not any(truth):
            logger.warning("no output class of the model is in the concept set: no last-layer accuracy")
            return {}, {}
        top1, top5 = {}, {}
        for method, scores in closed.items():
            if scores is None or layer not in scores:
                continue
            if method == "ICL":
                answers = scores[layer]
                ranked = [[answers[n]] if n in answers else [] for n in range(widths[layer])]
            else:
                ranked = rank_concepts(scores[layer], self.concepts, top=5)
            top1[method] = last_layer_accuracy(ranked, truth, k=1)
            top5[method] = last_layer_accuracy(ranked, truth, k=5)
        return top1, top5

    @staticmethod
    def pruning_summary(results):
        """Per target and averaged over the targets where neurons were pruned: confidence changes (probabilities
        and logits) for the concept's neurons and for the random control, with ``selectivity = delta_R - delta_A``
        and ``vs_random = delta_A_random - delta_A`` (both > 0 when pruning hits the target class specifically)."""
        per_target = {}
        for target, record in results.items():
            row = {"n_neurons": record["n_neurons"]}
            if record.get("effect"):
                effect, control = record["effect"], record["random"]
                for key in ("delta_A", "delta_R", "delta_A_logit", "delta_R_logit"):
                    row[key] = effect[key]
                    row[f"{key}_random"] = control[key]
                row["selectivity"] = _diff(row["delta_R"], row["delta_A"])
                row["vs_random"] = _diff(row["delta_A_random"], row["delta_A"])
                row["selectivity_logit"] = _diff(row["delta_R_logit"], row["delta_A_logit"])
                row["vs_random_logit"] = _diff(row["delta_A_logit_random"], row["delta_A_logit"])
            per_target[target] = row
        measured = [row for row in per_target.values() if "delta_A" in row]
        keys = [k for k in (measured[0] if measured else {}) if k != "n_neurons"]
        summary = {k: _mean([row[k] for row in measured]) for k in keys}
        summary["n_neurons"] = _mean([row["n_neurons"] for row in measured]) if measured else 0.0
        summary["n_targets"] = len(measured)
        return summary, per_target

    # ---------------------------------------------------------------------------------- run
    def run(self):
        """Run (or resume) every stage; returns the metrics written to ``test_metrics.json`` (None on ranks > 0)."""
        self.check_probing()
        activations = self.activations()
        descriptions = self.descriptions()
        if self.rank != 0:
            return None
        widths = activations.widths()
        top = self.top_k(activations)
        db = self.closed_db(descriptions, top)
        tab = self.closed_tab(activations)
        summaries = self.summaries(descriptions, top, widths)
        icl = self.closed_icl(summaries, descriptions, top)
        open_concepts = self.open_concepts(summaries)
        pruning = self.pruning(widths, db, tab, open_concepts)
        analysis = self.analysis(descriptions, top)

        closed = {"DB": db, "TAB": tab, "ICL": icl}
        self.write_neuron_files(activations, descriptions, top, closed, summaries, open_concepts, analysis)
        top1, top5 = self.last_layer_accuracy(widths, closed)
        metrics = {"n_clips": len(activations.ids), "layers": widths, "concepts": len(self.concepts),
                   "last_layer_top1": top1, "last_layer_top5": top5}
        if pruning:
            by_strategy = {s: self.pruning_summary(r) for s, r in pruning.items()}
            primary = next(s for s in self.options.pruning_strategies if s in by_strategy)
            metrics["pruning"] = {"strategy": primary, **by_strategy[primary][0]}
            metrics["pruning_per_target"] = by_strategy[primary][1]
            metrics["pruning_by_strategy"] = {s: summary for s, (summary, _) in by_strategy.items()}
        if analysis is not None:
            shares = analysis["shares"]
            metrics["uninterpretable"] = shares[next(iter(shares))]
            metrics["uninterpretable_by_tau"] = shares
        write_stage_metrics(self.folder, "test", _plain(metrics))
        logger.info("AND: last-layer top-1 %s, pruning %s", top1, metrics.get("pruning"))
        return metrics


def _diff(a, b):
    if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)):
        return float("nan")
    return a - b


def confidence_changes(intact, ablated, own, target, multilabel=False, n_neurons=0):
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

    return {"delta_A": mean(prob_d[mask]), "delta_R": mean(prob_d[~mask]),
            "delta_A_logit": mean(logit_d[mask]), "delta_R_logit": mean(logit_d[~mask]),
            "n_A": int(mask.sum()), "n_R": int((~mask).sum()), "n_neurons": int(n_neurons)}


# ------------------------------------------------------------------------------------------ recipes
def load_dissected_model(hparams, manifests, device="cpu"):
    """The model a recipe dissects and the class name of each of its outputs.

    ``ast_config`` given (ASTConfig arguments, or the name of the hparams entry holding them): a randomly initialised
    AST over the data's classes (tests); ``architecture: ast``:
    ``--pretrained_classifier`` is an AST by local folder or hub id (or an exported classifier folder); otherwise
    the exported classifier of ``train_classifier.py``, checked against the data's classes.
    """
    from interpretability.classifiers.ast import build_ast_classifier, is_exported_classifier, load_ast_classifier
    from interpretability.brains.training import load_explained_classifier

    classes = list(manifests["classes"])
    source = hparams.get("pretrained_classifier")
    ast_config = hparams.get("ast_config")
    if isinstance(ast_config, str):   # the name of another hparams entry (tests: --ast_config=tiny_ast_config)
        if not isinstance(hparams.get(ast_config), dict):
            raise InputError(f"ast_config names {ast_config!r}, which is no mapping of ASTConfig arguments in the "
                             "hparams")
        ast_config = hparams[ast_config]
    if ast_config:
        logger.warning("dissecting a randomly initialised AST built from ast_config (a test set-up)")
        model = build_ast_classifier(len(classes), n_mels=hparams.get("n_mels", 128),
                                     multilabel=hparams.get("multilabel", False), ast_config=ast_config,
                                     classes=classes, seed=hparams.get("seed", 0))
        return model.to(device).eval(), classes
    if hparams.get("architecture") == "ast" and source and not (
            is_exported_classifier(source) or is_exported_classifier(os.path.join(source, "classifier"))):
        model = load_ast_classifier(source, multilabel=hparams.get("ast_multilabel"), device=device)
        return model, model.classes
    model, _ = load_explained_classifier(hparams, manifests)
    return model.to(device).eval(), classes


def default_layers(model, output_layer="head"):
    """Every transformer block of an AST, or the interpretable layers of a ``SpectrogramClassifier``, then the
    output layer."""
    if hasattr(model, "block_paths"):
        hidden = model.block_paths()
    else:
        hidden = [f"encoder.{name}" for name in model.interpretable_layers]
    return hidden + [output_layer]


def options_from_hparams(hparams, progress=True):
    """:class:`DissectionOptions` from recipe hparams of the same names (``top_k`` is ``k``)."""
    names = {f for f in DissectionOptions.__dataclass_fields__ if f not in ("k", "progress")}
    kwargs = {name: hparams[name] for name in names if hparams.get(name) is not None}
    if hparams.get("top_k") is not None:
        kwargs["k"] = int(hparams["top_k"])
    for name in ("pruning_strategies", "skip", "icl_examples"):
        if name in kwargs:
            kwargs[name] = tuple(kwargs[name])
    if "pruning_targets" in hparams and hparams["pruning_targets"] is not None:
        kwargs["pruning_targets"] = list(hparams["pruning_targets"])
    kwargs["progress"] = bool(progress)
    return DissectionOptions(**kwargs)


def run_dissection(hparams, run_opts, manifests):
    """The ``dissect_and.py`` recipe of every dataset: load the model and the probing clips, run (or resume) AND.

    hparams: the :class:`DissectionOptions` fields (``layers`` null: :func:`default_layers`),
    ``pretrained_classifier`` / ``architecture`` / ``ast_config`` / ``ast_multilabel`` (see
    :func:`load_dissected_model`), ``probing_splits`` (default ``[test]``), ``max_clips``, ``clip_seconds``,
    ``multilabel`` (the data's labels), ``seed`` and the backends ``captioner``, ``summarizer``, ``text_encoder``,
    ``audio_text_encoder``,
    ``pos_tagger`` (instances or ``!name:`` factories; see :class:`Backends`), ``spacy_model``.
    Returns the metrics (None on ranks > 0).
    """
    from interpretability.data.pipelines import classification_datasets

    def run_option(name, default=None):
        value = run_opts.get(name) if isinstance(run_opts, dict) else getattr(run_opts, name, None)
        return default if value is None else value

    device = run_option("device", "cpu")
    model, output_classes = load_dissected_model(hparams, manifests, device)
    multilabel = bool(hparams.get("multilabel", getattr(model, "multilabel", False)))   # the data's labels
    splits = list(hparams.get("probing_splits") or ["test"])
    unknown = [s for s in splits if s not in manifests]
    if unknown:
        prepared = [s for s in ('train', 'valid', 'test') if s in manifests]
        raise InputError(f"probing splits {unknown} are not prepared; the data has {prepared}")
    datasets = classification_datasets({s: manifests[s] for s in splits}, hparams["clip_seconds"],
                                       multilabel=multilabel, with_clean=False)
    probing = ProbingSet.from_datasets([datasets[s] for s in splits], manifests["classes"], multilabel=multilabel,
                                       max_clips=hparams.get("max_clips"), seed=hparams.get("seed", 0))
    backends = Backends(captioner=hparams.get("captioner"), summarizer=hparams.get("summarizer"),
                        text_encoder=hparams.get("text_encoder"),
                        audio_text_encoder=hparams.get("audio_text_encoder"), pos_tagger=hparams.get("pos_tagger"),
                        spacy_model=hparams.get("spacy_model"))
    if not hparams.get("layers"):
        hparams["layers"] = default_layers(model, hparams.get("output_layer") or "head")
    options = options_from_hparams(hparams, progress=not run_option("noprogressbar", False))
    logger.info("AND: %d probing clips from %s, layers %s", len(probing), splits, options.layers)
    dissection = Dissection(model, probing, hparams["output_folder"], options, backends,
                            output_classes=output_classes, device=device)
    return dissection.run()
