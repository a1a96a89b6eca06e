"""Sparse NMF dictionary for L2I (docs/methods.md, "L2I"), learned by streaming over spectrogram frames.

The model (sparse NMF with beta = 2, Le Roux et al. 2015): every frame ``v`` (``F`` bins of ``log1p|X|`` by
default, ``|X|`` as an option) is approximated by ``W h`` with ``W`` ``[F, K]`` non-negative with unit-norm
columns and ``h >= 0`` sparse. Per frame the cost is::

    0.5 * ||v - W h||^2 + sparsity * ||h||_1

and the dictionary minimises its mean over the training frames. :class:`SparseNMF` learns ``W`` online
(Mairal et al. 2010): each mini-batch of frames is sparse-coded with ``W`` fixed (:func:`sparse_codes`,
accelerated projected gradient on the non-negative lasso), its sufficient statistics ``A = sum h h^T``
``[K, K]`` and ``B = sum v h^T`` ``[F, K]`` are added to running ones, and ``W`` is updated by block
coordinate descent on the surrogate ``0.5 tr(W^T W A) - tr(W^T B)``, each column projected onto the
non-negative unit sphere. Memory is that of ``W``, ``A``, ``B`` and one mini-batch, whatever the dataset size.

Shapes: frames are rows, ``[N, F]``; codes ``[N, K]`` (L2I's ``H`` is their transpose, ``K x T``).
"""

import logging
import math
import os

import torch
import yaml

from interpretability.errors import CheckpointError
from interpretability.results import atomic_torch_save, atomic_write_text

logger = logging.getLogger(__name__)

DOMAINS = ("log1p", "linear")
DICTIONARY_FILE = "dictionary.pt"
DESCRIPTION_FILE = "hyperparams.yaml"


def nmf_input(magnitude, domain="log1p"):
    """The spectrogram NMF factorises: ``log1p|X|`` (default) or ``|X|`` (``linear``). Any shape.

    Example
    -------
    >>> nmf_input(torch.tensor([0.0, 1.0]))
    tensor([0.0000, 0.6931])
    """
    if domain == "log1p":
        return torch.log1p(magnitude)
    if domain == "linear":
        return magnitude
    raise ValueError(f"NMF domain must be one of {DOMAINS}, got {domain!r}")


def nmf_output(spectrogram, domain="log1p"):
    """Inverse of :func:`nmf_input`: a (non-negative) spectrogram of that domain back to a linear magnitude.

    Example
    -------
    >>> magnitude = torch.tensor([0.5, 2.0])
    >>> bool(torch.allclose(nmf_output(nmf_input(magnitude)), magnitude))
    True
    >>> nmf_output(torch.tensor([-1.0]), domain="linear")  # clamped at 0
    tensor([0.])
    """
    spectrogram = spectrogram.clamp_min(0)
    if domain == "log1p":
        return torch.expm1(spectrogram)
    if domain == "linear":
        return spectrogram
    raise ValueError(f"NMF domain must be one of {DOMAINS}, got {domain!r}")


def normalize_columns(dictionary, eps=1e-12):
    """Scale every column of ``[F, K]`` to unit L2 norm (zero columns stay zero).

    Example
    -------
    >>> normalize_columns(torch.tensor([[3.0, 0.0], [4.0, 0.0]]))
    tensor([[0.6000, 0.0000],
            [0.8000, 0.0000]])
    """
    return dictionary / dictionary.norm(dim=0, keepdim=True).clamp_min(eps)


def sparse_codes(frames, dictionary, sparsity, iterations=100, init=None):
    """Non-negative lasso per frame: ``argmin_{h >= 0} 0.5 ||v - W h||^2 + sparsity * ||h||_1``.

    FISTA (accelerated projected gradient) with step ``1 / L``, ``L`` the largest eigenvalue of ``W^T W``.

    Arguments
    ---------
    frames : torch.Tensor, ``[N, F]`` (one frame per row).
    dictionary : torch.Tensor, ``[F, K]``.
    sparsity : float, weight of the L1 term.
    iterations : int
    init : torch.Tensor, ``[N, K]``, optional warm start.

    Returns
    -------
    torch.Tensor, ``[N, K]``, non-negative.

    Example
    -------
    >>> dictionary = torch.eye(3)
    >>> sparse_codes(
    ...     torch.tensor([[2.0, 0.5, 0.0]]), dictionary, sparsity=0.5
    ... )  # soft threshold
    tensor([[1.5000, 0.0000, 0.0000]])
    """
    gram = dictionary.T @ dictionary
    target = (
        frames @ dictionary - sparsity
    )  # gradient of the smooth part + L1 term is codes @ gram - target
    lipschitz = float(torch.linalg.eigvalsh(gram.double())[-1].clamp_min(1e-12))
    step = 1.0 / lipschitz
    codes = init.clamp_min(0) if init is not None else torch.zeros_like(target)
    momentum_point, t = codes, 1.0
    for _ in range(int(iterations)):
        updated = (
            momentum_point - step * (momentum_point @ gram - target)
        ).clamp_min(0)
        t_next = (1.0 + math.sqrt(1.0 + 4.0 * t * t)) / 2.0
        momentum_point = updated + ((t - 1.0) / t_next) * (updated - codes)
        codes, t = updated, t_next
    return codes


def reconstruction_terms(frames, dictionary, codes, sparsity):
    """Sums over the frames of ``||v - W h||^2``, ``||v||^2`` and ``||h||_1``, and the number of codes
    that are non-zero; ``[N, F]``, ``[F, K]``, ``[N, K]`` -> dict of floats (to accumulate over batches).

    Example
    -------
    >>> terms = reconstruction_terms(
    ...     torch.ones(2, 3), torch.eye(3), torch.ones(2, 3), 0.1
    ... )
    >>> terms["squared_error"], terms["l1"], terms["frames"]
    (0.0, 6.0, 2)
    """
    residual = frames - codes @ dictionary.T
    return {
        "squared_error": float(residual.pow(2).sum()),
        "energy": float(frames.pow(2).sum()),
        "l1": float(codes.abs().sum()),
        "nonzero": float((codes > 0).sum()),
        "frames": int(frames.shape[0]),
        "entries": int(codes.numel()),
        "sparsity": float(sparsity),
    }


def summarize_terms(terms):
    """Merge :func:`reconstruction_terms` of several batches into ``relative_error`` (``||V - WH||_F /
    ||V||_F``), ``objective`` (the per-frame cost, averaged over frames), ``code_density`` (share of
    non-zero activations) and ``n_frames``.

    Example
    -------
    >>> batch = reconstruction_terms(
    ...     torch.ones(2, 3), torch.eye(3), torch.full((2, 3), 0.5), 0.0
    ... )
    >>> summarize_terms([batch, batch])["relative_error"]
    0.5
    """
    total = {
        key: sum(t[key] for t in terms)
        for key in (
            "squared_error",
            "energy",
            "l1",
            "nonzero",
            "frames",
            "entries",
        )
    }
    sparsity = terms[0]["sparsity"] if terms else 0.0
    frames = max(total["frames"], 1)
    return {
        "relative_error": math.sqrt(
            total["squared_error"] / max(total["energy"], 1e-30)
        ),
        "objective": (0.5 * total["squared_error"] + sparsity * total["l1"])
        / frames,
        "code_density": total["nonzero"] / max(total["entries"], 1),
        "n_frames": total["frames"],
    }


class SparseNMF:
    """Online sparse NMF (Mairal-style sufficient statistics), ``W`` ``[n_features, n_components]``.

    Arguments
    ---------
    n_components : int, ``K``.
    n_features : int, ``F`` (513 on the project's STFT grid).
    sparsity : float, the L1 weight of the per-frame cost (see the module docstring).
    code_iterations : int, FISTA iterations per mini-batch.
    dictionary_sweeps : int, block-coordinate passes over the columns per mini-batch.
    forget_rho : float, the running statistics are ``A <- (1 - 1/t)^rho A + sum h h^T`` at mini-batch ``t``,
        so mini-batch ``s`` weighs ``(s / t)^rho``: 0 averages all batches, larger values forget the early
        codes, which were computed with a poor dictionary.
    min_frame_energy : float, frames whose squared norm is below it (silence, padding) are skipped.
    seed : int, seeds the initialisation (``K`` training frames of the first mini-batch plus noise) and the
        re-initialisation of unused atoms.
    device : str or torch.device

    Example
    -------
    >>> torch.manual_seed(0) is not None
    True
    >>> frames = torch.rand(64, 1) * torch.tensor(
    ...     [[1.0, 0.0, 0.5, 0.0]]
    ... ) + torch.rand(64, 1) * torch.tensor([[0.0, 1.0, 0.0, 0.5]])
    >>> nmf = SparseNMF(n_components=2, n_features=4, sparsity=0.01, seed=0)
    >>> _ = nmf.fit(
    ...     lambda: [frames[:32], frames[32:]], passes=3
    ... )  # batches: a callable
    >>> codes = nmf.transform(frames)
    >>> nmf.dictionary.shape, codes.shape, bool((nmf.dictionary >= 0).all())
    (torch.Size([4, 2]), torch.Size([64, 2]), True)
    >>> error = summarize_terms(
    ...     [reconstruction_terms(frames, nmf.dictionary, codes, 0.01)]
    ... )["relative_error"]
    >>> error < 0.1
    True
    """

    def __init__(
        self,
        n_components,
        n_features=513,
        sparsity=0.1,
        code_iterations=50,
        dictionary_sweeps=1,
        forget_rho=1.0,
        min_frame_energy=1e-8,
        seed=0,
        device="cpu",
    ):
        self.n_components = int(n_components)
        self.n_features = int(n_features)
        self.sparsity = float(sparsity)
        self.code_iterations = int(code_iterations)
        self.dictionary_sweeps = int(dictionary_sweeps)
        self.forget_rho = float(forget_rho)
        self.min_frame_energy = float(min_frame_energy)
        self.device = torch.device(device)
        self.generator = torch.Generator(device="cpu").manual_seed(int(seed))
        self.dictionary = None
        self.initial_dictionary = None  # kept to measure what learning added
        self.stats_a = torch.zeros(
            self.n_components, self.n_components, device=self.device
        )
        self.stats_b = torch.zeros(
            self.n_features, self.n_components, device=self.device
        )
        self.n_batches = 0
        self.n_frames_seen = 0

    @property
    def config(self):
        """The arguments that rebuild this learner (saved beside the dictionary)."""
        return dict(
            n_components=self.n_components,
            n_features=self.n_features,
            sparsity=self.sparsity,
            code_iterations=self.code_iterations,
            dictionary_sweeps=self.dictionary_sweeps,
            forget_rho=self.forget_rho,
        )

    def _random_frames(self, frames, count):
        index = torch.randint(
            0, frames.shape[0], (count,), generator=self.generator
        )
        return frames[index.to(frames.device)]

    def _initialize(self, frames):
        chosen = self._random_frames(frames, self.n_components).T  # [F, K]
        noise = torch.rand(chosen.shape, generator=self.generator).to(
            frames.device
        )
        scale = chosen.mean().clamp_min(1e-6)
        self.dictionary = normalize_columns(chosen + 0.1 * scale * noise)
        self.initial_dictionary = self.dictionary.clone()

    def _check(self, frames):
        if frames.dim() != 2 or frames.shape[1] != self.n_features:
            raise ValueError(
                f"frames must be [N, {self.n_features}], got {tuple(frames.shape)}"
            )
        if frames.numel() and frames.min() < 0:
            raise ValueError("NMF frames must be non-negative")
        frames = frames.to(self.device, torch.float32)
        return frames[frames.pow(2).sum(dim=1) >= self.min_frame_energy]

    def partial_fit(self, frames):
        """One online step on a mini-batch of frames ``[N, F]``; returns ``self``."""
        frames = self._check(frames)
        if frames.shape[0] == 0:
            return self
        if self.dictionary is None:
            self._initialize(frames)
        codes = sparse_codes(
            frames, self.dictionary, self.sparsity, self.code_iterations
        )
        self.n_batches += 1
        self.n_frames_seen += frames.shape[0]
        keep = (1.0 - 1.0 / self.n_batches) ** self.forget_rho
        n = frames.shape[0]
        self.stats_a.mul_(keep).add_(codes.T @ codes / n)
        self.stats_b.mul_(keep).add_(frames.T @ codes / n)
        self._update_dictionary(frames)
        return self

    def _update_dictionary(self, frames):
        dictionary = self.dictionary
        diagonal = self.stats_a.diagonal()
        unused = diagonal <= 1e-10 * diagonal.max().clamp_min(1e-30)
        for _ in range(self.dictionary_sweeps):
            for k in range(self.n_components):
                if unused[k]:
                    continue
                column = (
                    dictionary[:, k]
                    + (self.stats_b[:, k] - dictionary @ self.stats_a[:, k])
                    / diagonal[k]
                )
                column = column.clamp_min(0)
                norm = column.norm()
                if norm > 1e-12:
                    dictionary[:, k] = column / norm
                else:
                    unused[k] = True
        if (
            unused.any()
        ):  # atoms no frame uses: restart them from frames of this batch
            count = int(unused.sum())
            dictionary[:, unused] = normalize_columns(
                self._random_frames(frames, count).T
            )
            logger.debug("re-initialised %d unused atoms", count)
        self.dictionary = dictionary

    def state_dict(self):
        """Everything :meth:`partial_fit` has learned and will draw from (dictionary, running statistics, counts,
        the generator's state), so a learner restored with :meth:`load_state_dict` continues exactly."""
        return {
            "config": self.config,
            "dictionary": self.dictionary,
            "initial_dictionary": self.initial_dictionary,
            "stats_a": self.stats_a,
            "stats_b": self.stats_b,
            "n_batches": self.n_batches,
            "n_frames_seen": self.n_frames_seen,
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state):
        """Restore a :meth:`state_dict` of a learner of the same configuration (ValueError otherwise)."""
        if dict(state["config"]) != self.config:
            raise ValueError(
                f"NMF state of another configuration: {state['config']} (this learner: {self.config})"
            )

        def move(tensor):
            return None if tensor is None else tensor.to(self.device)

        self.dictionary, self.initial_dictionary = (
            move(state["dictionary"]),
            move(state["initial_dictionary"]),
        )
        self.stats_a, self.stats_b = (
            move(state["stats_a"]),
            move(state["stats_b"]),
        )
        self.n_batches, self.n_frames_seen = (
            int(state["n_batches"]),
            int(state["n_frames_seen"]),
        )
        self.generator.set_state(state["generator"])
        return self

    def fit(self, batches, passes=1):
        """Run :meth:`partial_fit` over ``batches()`` (a callable returning an iterable of ``[N, F]``)
        ``passes`` times; returns ``self``."""
        for _ in range(int(passes)):
            for frames in batches():
                self.partial_fit(frames)
        return self

    def transform(self, frames, iterations=None):
        """Sparse codes ``[N, K]`` of frames ``[N, F]`` with the learned dictionary."""
        if self.dictionary is None:
            raise RuntimeError(
                "the dictionary is not learned yet: call partial_fit or fit first"
            )
        frames = frames.to(self.device, torch.float32)
        return sparse_codes(
            frames,
            self.dictionary,
            self.sparsity,
            self.code_iterations if iterations is None else iterations,
        )


def save_dictionary(folder, dictionary, description):
    """Write ``dictionary.pt`` (``W`` ``[F, K]``) and ``hyperparams.yaml`` (``description`` + shape) into
    ``folder``; returns it.

    Example
    -------
    >>> import tempfile
    >>> folder = save_dictionary(
    ...     os.path.join(tempfile.mkdtemp(), "nmf"),
    ...     torch.eye(3),
    ...     {"domain": "log1p"},
    ... )
    >>> sorted(os.listdir(folder))
    ['dictionary.pt', 'hyperparams.yaml']
    """
    os.makedirs(folder, exist_ok=True)
    dictionary = dictionary.detach().float().cpu()
    description = dict(description)
    description.update(
        n_features=int(dictionary.shape[0]),
        n_components=int(dictionary.shape[1]),
    )
    atomic_torch_save(os.path.join(folder, DICTIONARY_FILE), dictionary)
    atomic_write_text(
        os.path.join(folder, DESCRIPTION_FILE),
        yaml.safe_dump(description, sort_keys=False),
    )
    return folder


def dictionary_folder(path):
    """Accept the ``nmf/`` folder itself or the output folder of the run that wrote it.

    Example
    -------
    >>> import tempfile
    >>> run = tempfile.mkdtemp()
    >>> _ = save_dictionary(os.path.join(run, "nmf"), torch.eye(3), {})
    >>> dictionary_folder(run) == os.path.join(run, "nmf")
    True
    """
    for candidate in (path, os.path.join(path, "nmf")):
        if os.path.isfile(os.path.join(candidate, DICTIONARY_FILE)):
            return candidate
    raise CheckpointError(
        f"{path}: no NMF dictionary here (expected {DICTIONARY_FILE} in it or in "
        f"{os.path.join(path, 'nmf')}; train_nmf.py writes one)"
    )


def read_description(path, what):
    """The dict of a YAML description written beside a checkpoint; an unreadable file raises
    :class:`CheckpointError` naming it and ``what`` it should hold.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "hyperparams.yaml")
    >>> _ = open(path, "w").write("domain: log1p")
    >>> read_description(path, "an NMF description")
    {'domain': 'log1p'}
    """
    try:
        with open(path, encoding="utf-8") as handle:
            description = yaml.safe_load(handle) or {}
    except (OSError, yaml.YAMLError) as err:
        raise CheckpointError(f"{path}: cannot read {what} ({err})") from None
    if not isinstance(description, dict):
        raise CheckpointError(
            f"{path}: expected a mapping for {what}, got {type(description).__name__}"
        )
    return description


def load_dictionary(path):
    """Load ``(W [F, K], description)`` from a folder written by :func:`save_dictionary`.

    Example
    -------
    >>> import tempfile
    >>> folder = save_dictionary(
    ...     os.path.join(tempfile.mkdtemp(), "nmf"),
    ...     torch.eye(3),
    ...     {"domain": "log1p"},
    ... )
    >>> dictionary, description = load_dictionary(folder)
    >>> dictionary.shape, description
    (torch.Size([3, 3]), {'domain': 'log1p', 'n_features': 3, 'n_components': 3})
    """
    folder = dictionary_folder(path)
    description_path = os.path.join(folder, DESCRIPTION_FILE)
    description = read_description(
        description_path, "the dictionary description"
    )
    dictionary_path = os.path.join(folder, DICTIONARY_FILE)
    try:
        dictionary = torch.load(
            dictionary_path, map_location="cpu", weights_only=True
        )
    except Exception as err:  # noqa: BLE001 - any unreadable file is a checkpoint error for the user
        raise CheckpointError(
            f"{dictionary_path}: cannot read the dictionary ({err})"
        ) from None
    if (
        not isinstance(dictionary, torch.Tensor)
        or dictionary.dim() != 2
        or (dictionary < 0).any()
    ):
        raise CheckpointError(
            f"{dictionary_path}: expected a non-negative [F, K] tensor"
        )
    if description.get("domain", "log1p") not in DOMAINS:
        raise CheckpointError(
            f"{description_path}: domain must be one of {DOMAINS}, "
            f"got {description.get('domain')!r}"
        )
    return dictionary.float(), description
