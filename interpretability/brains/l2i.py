"""L2I training (docs/methods.md, "L2I"): the NMF dictionary run and the interpreter run.

:func:`train_nmf` learns the sparse NMF dictionary on the training split by streaming over it
(:class:`~interpretability.interpreters.nmf.SparseNMF`) and writes ``<output_folder>/nmf/``.
:func:`train_l2i` trains Psi and Theta (:mod:`interpretability.interpreters.l2i`) on a frozen classifier and a
frozen dictionary with :class:`L2IBrain`, which explains on the shared evaluation of
:class:`~interpretability.brains.interpreter.InterpreterBrain` and adds L2I's own metrics: top-k fidelity (or,
multi-label, AUPRC / max-F1 of Theta against the classifier's decisions) and the faithfulness of removing the
selected components against removing as many random others.
"""

import logging
import os
import time
import zlib

import torch
from tqdm import tqdm

import speechbrain as sb
from interpretability.audio import write_audio
from interpretability.brains.classifier import batch_tensor
from interpretability.brains.interpreter import InterpreterBrain
from interpretability.brains.training import (
    L2I_SETTINGS,
    fit_and_test_interpreter,
    layer_channels,
    load_explained_classifier,
    training_settings,
)
from interpretability.data.pipelines import classification_datasets
from interpretability.errors import InputError
from interpretability.interpreters.l2i import (
    L2IInterpreter,
    component_mask,
    component_masks,
    l2i_objective,
    matched_random_components,
    remove_components,
    removed_energy,
)
from interpretability.interpreters.nmf import (
    load_dictionary,
    nmf_input,
    reconstruction_terms,
    save_dictionary,
    sparse_codes,
    summarize_terms,
)
from interpretability.metrics.classification import (
    multilabel_fidelity,
    topk_contains,
)
from interpretability.metrics.stats import MetricCollector
from interpretability.results import atomic_torch_save, write_stage_metrics
from interpretability.spectral import STFTConfig, listenable, magnitude_phase
from speechbrain.utils.distributed import if_main_process

logger = logging.getLogger(__name__)

TOPK = (1, 3, 5)


def batch_generator(seed, ids):
    """The generator of a batch's random draws, seeded from ``seed`` and the batch's clip ids: the draws of a batch
    do not depend on the batches before it, so a resumed run or a process of a torchrun run draws what the
    one-process run draws for the same batch."""
    digest = zlib.crc32("\n".join(map(str, ids)).encode("utf-8"))
    return torch.Generator().manual_seed(
        (int(seed) * 0x9E3779B1 + digest) % 2**63
    )


def first_rows(row_clip):
    """Bool ``[R]``: the first row of each clip (rows of one clip are consecutive, as :class:`ClipView` makes
    them)."""
    first = torch.ones_like(row_clip, dtype=torch.bool)
    first[1:] = row_clip[1:] != row_clip[:-1]
    return first


class L2IMetricCollector(MetricCollector):
    """The shared per-row metrics, the median of the random-component control (``FF_median_random``) and, for a
    multi-label classifier, Theta's sigmoid outputs per clip against the classifier's decisions (AUPRC, max-F1)."""

    RENAMED = {
        "FF_random_median": "FF_median_random",
        "FF_random_area_median": "FF_median_random_area",
    }

    def __init__(self):
        super().__init__(median_keys=("FF", "FF_random", "FF_random_area"))

    def clear(self):
        super().clear()
        self.theta_probs, self.decisions = [], []

    def append_clips(self, theta_probs, decisions):
        """Store Theta's sigmoid outputs and the classifier's 0/1 decisions of a batch's clips, ``[B, C]`` each."""
        self.theta_probs.append(theta_probs.detach().cpu())
        self.decisions.append(decisions.detach().cpu())

    def summarize(self, field=None):
        summary = {
            self.RENAMED.get(k, k): v for k, v in super().summarize().items()
        }
        if self.theta_probs:
            fidelity = multilabel_fidelity(
                torch.cat(self.theta_probs), torch.cat(self.decisions)
            )
            summary.update(
                {f"fidelity_{name}": value for name, value in fidelity.items()}
            )
        self.summary = summary
        return summary[field] if field is not None else summary


class L2IBrain(InterpreterBrain):
    """``modules.interpreter`` is an :class:`~interpretability.interpreters.l2i.L2IInterpreter` (Psi, Theta and the
    frozen dictionary).

    hparams used beyond :class:`InterpreterBrain`'s: ``alpha`` (reconstruction weight), ``beta`` (sparsity
    weight), ``seed`` (the random-component control, drawn per batch by :func:`batch_generator`), ``valid_metrics_every`` (validations that compute the
    explanation metrics; the others only the loss). Each row of a :class:`ClipView` (a clip, or a (clip,
    present class) pair for a multi-label classifier) is explained for its class; the loss counts each clip once.

    Faithfulness of the components. The explanation's mask is the selected components' share of the input, so
    removing them (:func:`~interpretability.interpreters.l2i.remove_components`) is exactly the masked-out input
    of the shared metrics: the shared ``FF`` / ``FF_median`` are L2I's ``f_c(x) - f_c(x minus the selected
    components)``. ``FF_random`` / ``FF_median_random`` remove randomly chosen components active in the clip instead,
    as many as it takes to remove as much energy, and ``FF_random_area`` / ``FF_median_random_area`` as much area
    (mask mean) (:func:`~interpretability.interpreters.l2i.matched_random_components`); ``removed_mask_mean``,
    ``removed_energy`` (share of the input's energy) and the same with the prefixes ``random_`` / ``random_area_``
    show how much each removes.
    """

    def on_stage_start(self, stage, epoch=None):
        super().on_stage_start(stage, epoch)
        self.metric_collector = L2IMetricCollector()
        self.explaining = stage == sb.Stage.TEST or (
            stage == sb.Stage.VALID and self._explain_on_valid(epoch)
        )

    def _explain_on_valid(self, epoch):
        """Whether this validation computes the explanation metrics: every ``valid_metrics_every`` epochs and on
        the last one (always when the best checkpoint is chosen on one of them, not on the loss)."""
        every = int(getattr(self.hparams, "valid_metrics_every", 1))
        if (
            every <= 1
            or getattr(self.hparams, "checkpoint_key", "loss") != "loss"
            or epoch is None
        ):
            return True
        limit = getattr(
            getattr(self.hparams, "epoch_counter", None), "limit", None
        )
        return epoch % every == 0 or epoch == limit

    @property
    def interpreter(self):
        """The L2IInterpreter itself (under torchrun ``modules.interpreter`` is DDP's wrapper of it)."""
        module = self.modules.interpreter
        return (
            module.module
            if isinstance(module, torch.nn.parallel.DistributedDataParallel)
            else module
        )

    def explain(self, view):
        return self.interpreter.mask(view.hidden, view.n_frames, view.decision)

    def compute_forward(self, batch, stage):
        view = self.make_view(batch, stage)
        return view, self.modules.interpreter(
            view.hidden, view.n_frames
        )  # through DDP's wrapper under torchrun

    def compute_objectives(self, predictions, batch, stage):
        view, (activations, scores, pooled, _) = predictions
        first = first_rows(view.row_clip)
        target = nmf_input(view.magnitude[first], self.interpreter.domain)
        loss, _ = l2i_objective(
            scores[first],
            view.logits[first],
            target,
            self.interpreter.dictionary,
            activations[first],
            alpha=self.hparams.alpha,
            beta=self.hparams.beta,
            multilabel=view.multilabel,
        )
        if stage != sb.Stage.TRAIN and self.explaining:
            with torch.no_grad():
                self.collect_l2i(
                    batch, view, activations, scores, pooled, first
                )
        return loss

    def collect_l2i(self, batch, view, activations, scores, pooled, first):
        mask, selected = self.interpreter.explain(
            activations, pooled, view.decision
        )
        view.activations, view.selected = (
            activations,
            selected,
        )  # read by export_listenable
        extra = {}
        if view.multilabel:
            self.metric_collector.append_clips(
                torch.sigmoid(scores[first]), (view.probs[first] >= 0.5).long()
            )
        else:
            for k in TOPK:
                extra[f"fidelity_top{k}"] = topk_contains(
                    scores, view.decision, k
                )
        rows = torch.arange(len(view.decision), device=mask.device)
        active = activations.amax(dim=2) > 0
        dictionary, eps = self.interpreter.dictionary, self.interpreter.eps
        generator = batch_generator(getattr(self.hparams, "seed", 0), batch.id)
        total = view.magnitude.pow(2).flatten(1).sum(dim=1).clamp_min(1e-12)
        extra["n_components"] = selected.sum(dim=1).float()
        controls = {"": selected}
        for suffix, match in (("", "energy"), ("_area", "area")):
            control = matched_random_components(
                view.magnitude,
                dictionary,
                activations,
                selected,
                generator,
                candidates=active,
                mask_domain=self.mask_domain,
                eps=eps,
                match=match,
            )
            magnitude = remove_components(
                view.magnitude,
                dictionary,
                activations,
                control,
                self.mask_domain,
                eps,
            )
            probs = self.classifier.probabilities(self.classifier(magnitude))
            extra[f"FF_random{suffix}"] = (
                view.probs[rows, view.decision] - probs[rows, view.decision]
            )
            extra[f"n_components_random{suffix}"] = control.sum(dim=1).float()
            controls[f"random{suffix}_"] = control
        for prefix, removed in controls.items():
            removed_mask = component_mask(dictionary, activations, removed, eps)
            extra[f"{prefix}removed_mask_mean"] = removed_mask.flatten(1).mean(
                dim=1
            )
            extra[f"{prefix}removed_energy"] = (
                removed_energy(
                    view.magnitude,
                    dictionary,
                    activations,
                    removed,
                    self.mask_domain,
                    eps,
                )
                / total
            )
        self.collect(batch, view, mask, extra)

    def export_listenable(self, ids, view, mask):
        """The shared export, plus ``<id>_component<k>.wav`` for each selected component of the exported rows."""
        already = self.n_exported
        super().export_listenable(ids, view, mask)
        count = self.n_exported - already
        if count == 0 or getattr(view, "selected", None) is None:
            return
        folder = os.path.join(self.hparams.output_folder, "explanations")
        for i in range(count):
            components = view.selected[i].nonzero(as_tuple=True)[0]
            if len(components) == 0:
                continue
            masks = component_masks(
                self.interpreter.dictionary,
                view.activations[i : i + 1],
                components,
                self.interpreter.eps,
            )[0]
            for k, single_mask in zip(components.tolist(), masks):
                wav = listenable(
                    view.magnitude[i],
                    view.phase[i],
                    single_mask,
                    view.wavs.shape[-1],
                    self.mask_domain,
                )
                write_audio(
                    os.path.join(folder, f"{ids[i]}_component{k}.wav"), wav
                )


def _waveform_batches(dataset, batch_size, limit=None, start=0):
    """Waveforms ``[B, N]`` of ``dataset`` in order, in batches of ``batch_size``, from batch ``start`` on (the
    clips before it are not read), at most ``limit`` batches in all."""
    indices = range(start * batch_size, len(dataset))
    loader = sb.dataio.dataloader.make_dataloader(
        dataset, batch_size=batch_size, sampler=indices, num_workers=0
    )
    for index, batch in enumerate(loader, start=start):
        if limit is not None and index >= limit:
            return
        yield batch_tensor(batch.sig)


def _frames(wavs, domain, device):
    """Spectrogram frames of a batch of waveforms in the NMF domain, ``[B * T, F]``."""
    magnitude, _ = magnitude_phase(wavs.to(device))
    return nmf_input(magnitude, domain).reshape(-1, magnitude.shape[-1])


def evaluate_dictionary(
    dictionary,
    dataset,
    domain,
    sparsity,
    code_iterations,
    batch_size,
    device,
    limit=None,
):
    """Sparse-code every frame of ``dataset`` with ``dictionary`` ``[F, K]`` and summarise the fit
    (:func:`~interpretability.interpreters.nmf.summarize_terms`)."""
    terms = []
    dictionary = dictionary.to(device)
    with torch.no_grad():
        for wavs in _waveform_batches(dataset, batch_size, limit):
            frames = _frames(wavs, domain, device)
            codes = sparse_codes(frames, dictionary, sparsity, code_iterations)
            terms.append(
                reconstruction_terms(frames, dictionary, codes, sparsity)
            )
    return summarize_terms(terms)


NMF_STATE_FILE = "nmf_state.pt"


class NMFCheckpoint:
    """The streaming NMF's checkpoint, ``<save_folder>/nmf_state.pt``: the learner's state (W, the running
    statistics A and B, counts, generator) and the next (pass, batch), written atomically by the main process.

    Saved after every ``ckpt_interval_steps`` mini-batches (SpeechBrain's run option) or, by default, every
    ``ckpt_interval_minutes`` (default 1), and at the end of every pass; a finished learning leaves its final state,
    so a run restarted after it skips the learning. A state of another configuration (learner, domain, passes,
    batch size, seed, training clips) is ignored, with a warning.
    """

    def __init__(self, path, config, run_opts=None):
        self.path, self.config = path, config
        run_opts = run_opts or {}
        self.every_steps = int(run_opts.get("ckpt_interval_steps") or 0)
        minutes = float(run_opts.get("ckpt_interval_minutes") or 0)
        self.every_seconds = 60.0 * (minutes if minutes > 0 else 1.0)
        self.last_save, self.steps = time.monotonic(), 0

    def resume(self, learner):
        """Load the saved state into ``learner`` when it is this run's; returns the (pass, batch) to start from."""
        if not os.path.isfile(self.path):
            return 0, 0
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - an unreadable state is redone, not trusted
            logger.warning(
                "%s: unreadable NMF state (%s); learning from the start",
                self.path,
                err,
            )
            return 0, 0
        if state.get("config") != self.config:
            logger.warning(
                "%s: NMF state of another run configuration; learning from the start",
                self.path,
            )
            return 0, 0
        learner.load_state_dict(state["learner"])
        logger.info(
            "NMF resumed from %s: pass %d, batch %d",
            self.path,
            state["pass"] + 1,
            state["batch"],
        )
        return int(state["pass"]), int(state["batch"])

    def step(self, learner, pass_index, next_batch):
        """After a mini-batch: save when the interval has passed."""
        self.steps += 1
        due = (
            (self.steps >= self.every_steps)
            if self.every_steps > 0
            else (time.monotonic() - self.last_save >= self.every_seconds)
        )
        if due:
            self.save(learner, pass_index, next_batch)

    def save(self, learner, pass_index, next_batch):
        if if_main_process():
            atomic_torch_save(
                self.path,
                {
                    "config": self.config,
                    "pass": int(pass_index),
                    "batch": int(next_batch),
                    "learner": learner.state_dict(),
                },
            )
        self.last_save, self.steps = time.monotonic(), 0


def train_nmf(hparams, run_opts, manifests, multilabel=None, folder=None):
    """Learn the sparse NMF dictionary on the training split, streaming over it, and save it.

    hparams: ``nmf`` (a partial of :class:`~interpretability.interpreters.nmf.SparseNMF` taking ``seed`` and
    ``device``), ``nmf_domain`` (``log1p`` or ``linear``), ``nmf_passes``, ``nmf_batch_size`` (clips per
    mini-batch), ``clip_seconds``, ``multilabel`` (how to read the manifests), ``seed``, ``output_folder``.
    Writes ``folder`` (default ``<output_folder>/nmf/``: ``dictionary.pt`` + ``hyperparams.yaml``) and, when it
    is the run's own result, ``<output_folder>/test_metrics.json``: the fit on the test split of the learned
    dictionary (``relative_error``, ``objective``, ``code_density``) and of its initialisation (``*_initial``),
    and ``improvement = 1 - objective / objective_initial``.

    Returns ``(folder, metrics)``.
    """
    device = (run_opts or {}).get("device") or "cpu"
    if multilabel is None:
        multilabel = bool(hparams.get("multilabel", False))
    own_run = folder is None
    folder = folder or os.path.join(hparams["output_folder"], "nmf")
    domain = hparams.get("nmf_domain", "log1p")
    datasets = classification_datasets(
        manifests,
        hparams["clip_seconds"],
        multilabel=multilabel,
        with_clean=False,
    )
    learner = hparams["nmf"](seed=hparams.get("seed", 0), device=device)
    debug = bool((run_opts or {}).get("debug"))
    limit = int((run_opts or {}).get("debug_batches") or 2) if debug else None
    passes = 1 if debug else int(hparams.get("nmf_passes", 1))
    batch_size = int(hparams.get("nmf_batch_size", 16))
    checkpoint = NMFCheckpoint(
        os.path.join(
            hparams.get("save_folder") or hparams["output_folder"],
            NMF_STATE_FILE,
        ),
        dict(
            learner=learner.config,
            domain=domain,
            passes=passes,
            batch_size=batch_size,
            limit=limit,
            seed=int(hparams.get("seed", 0)),
            clips=list(datasets["train"].data_ids),
        ),
        run_opts,
    )
    start_pass, start_batch = checkpoint.resume(learner)
    # fork_rng: the loaders draw a seed from the global generator per pass; without it, what the L2I run that
    # follows draws (its initial weights) would depend on how many passes this process ran, i.e. on a resume
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        for index in range(start_pass, passes):
            first = start_batch if index == start_pass else 0
            batches = _waveform_batches(
                datasets["train"], batch_size, limit, start=first
            )
            for batch_index, wavs in enumerate(
                tqdm(
                    batches,
                    desc=f"NMF pass {index + 1}",
                    disable=not if_main_process(),
                ),
                start=first,
            ):
                learner.partial_fit(_frames(wavs, domain, device))
                checkpoint.step(learner, index, batch_index + 1)
            checkpoint.save(learner, index + 1, 0)
    initial = learner.initial_dictionary
    if learner.dictionary is None:
        raise InputError(
            f"{manifests['train']}: the training split holds no non-silent spectrogram frame"
        )
    metrics = {}
    if own_run:
        split = "test" if "test" in datasets else "valid"
        evaluate = dict(
            domain=domain,
            sparsity=learner.sparsity,
            code_iterations=learner.code_iterations,
            batch_size=batch_size,
            device=device,
            limit=limit,
        )
        metrics = evaluate_dictionary(
            learner.dictionary, datasets[split], **evaluate
        )
        start = evaluate_dictionary(initial, datasets[split], **evaluate)
        metrics.update(
            {
                f"{key}_initial": start[key]
                for key in ("relative_error", "objective", "code_density")
            }
        )
        metrics["improvement"] = 1.0 - metrics["objective"] / max(
            start["objective"], 1e-30
        )
        metrics["n_components"] = learner.n_components
        metrics["train_frames"] = learner.n_frames_seen
    if if_main_process():
        save_dictionary(
            folder,
            learner.dictionary,
            dict(
                domain=domain,
                **learner.config,
                clip_seconds=float(hparams["clip_seconds"]),
            ),
        )
        if own_run:
            path = write_stage_metrics(
                hparams["output_folder"], "test", metrics
            )
            logger.info(
                "NMF dictionary written to %s, its fit on the test split to %s: %s",
                folder,
                path,
                metrics,
            )
    sb.utils.distributed.ddp_barrier()
    return folder, metrics


def train_l2i(hparams, run_opts, manifests):
    """Train L2I's Psi and Theta on a frozen classifier and NMF dictionary, test the best checkpoint and export
    ``<output_folder>/interpreter/``.

    hparams: ``pretrained_classifier``, ``nmf_dictionary`` (the folder ``train_nmf.py`` wrote, or its run folder;
    null: learn one first with this file's ``nmf*`` hparams, into ``<output_folder>/nmf/``), ``psi`` (a partial
    of :class:`~interpretability.interpreters.l2i.L2IPsi` taking ``layer_channels`` and ``n_components``),
    ``theta`` (a partial of :class:`~interpretability.interpreters.l2i.L2ITheta` taking ``n_components`` and
    ``n_classes``), ``tau``, ``mask_eps``, the :class:`L2IBrain` options, loaders, ``epoch_counter``,
    ``checkpointer``.
    """
    from interpretability.interpreters.io import export_interpreter

    classifier, classifier_source = load_explained_classifier(
        hparams, manifests
    )
    source = hparams.get("nmf_dictionary")
    if not source:
        logger.info(
            "No --nmf_dictionary given: learning one on the training split first"
        )
        source, _ = train_nmf(
            hparams,
            run_opts,
            manifests,
            multilabel=classifier.multilabel,
            folder=os.path.join(hparams["output_folder"], "nmf"),
        )
    dictionary, description = load_dictionary(source)
    n_freqs = STFTConfig().n_freqs
    if dictionary.shape[0] != n_freqs:
        raise InputError(
            f"{source}: the dictionary has {dictionary.shape[0]} frequency bins, the STFT grid "
            f"{n_freqs}"
        )
    n_components = int(dictionary.shape[1])
    psi = hparams["psi"](
        layer_channels=layer_channels(
            classifier, hparams["clip_seconds"], hparams.get("psi_layers")
        ),
        n_components=n_components,
    )
    theta = hparams["theta"](
        n_components=n_components, n_classes=classifier.n_classes
    )
    interpreter = L2IInterpreter(
        psi,
        theta,
        dictionary,
        domain=description.get("domain", "log1p"),
        tau=hparams.get("tau", 0.2),
        eps=hparams.get("mask_eps", 1e-6),
    )
    hparams["checkpointer"].add_recoverable("interpreter", interpreter)
    hparams["classes"] = manifests["classes"]

    def export():
        export_interpreter(
            os.path.join(hparams["output_folder"], "interpreter"),
            interpreter,
            interpreter.config,
            classifier_source,
            mask_domain=hparams.get("mask_domain", "linear"),
            method="l2i",
            extra={
                "nmf": dict(description),
                "training": training_settings(hparams, L2I_SETTINGS),
            },
        )

    brain = fit_and_test_interpreter(
        L2IBrain,
        classifier,
        {"interpreter": interpreter},
        hparams,
        run_opts,
        manifests,
        export,
    )
    return brain, brain.test_stats
