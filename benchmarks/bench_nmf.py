"""Sparse NMF dictionary learning: ours (online, Mairal-style statistics + FISTA codes) against scikit-learn's
``MiniBatchNMF`` on the same spectrogram frames, one thread each.

Frames: ``log1p|X|`` of a synthetic ESC-50-layout set (non-silent frames, shuffled once; 513 bins). Every
learner sees the same mini-batches in the same order; after every pass its dictionary is scored, outside the
timer, on a fixed subset of the frames with one common coder (the non-negative lasso of the L2I objective,
``0.5 ||v - W h||^2 + sparsity |h|_1`` per frame, with the dictionary's columns scaled to unit norm), so the
numbers compare dictionaries, not coders:

- ``relative_error`` = ``||V - W H||_F / ||V||_F``, ``objective`` = the per-frame cost above;
- ``seconds_to_target``: training time until the relative error first reaches the target, the larger of the
  learners' best errors (so that every learner reaches it): time to the same reconstruction error;
  ``seconds_to_sklearn_streaming_best``: the same for the best error scikit-learn's streaming learner reaches.

scikit-learn's activations are its ``W`` (frames are its samples) and its dictionary its ``H``: the L1 on the
activations is ``alpha_W`` (= ``sparsity / n_features``, since it scales ``alpha_W`` by the number of features),
``l1_ratio`` 1, ``alpha_H`` 0; its dictionary rows are not normalised during learning (nothing in its objective
asks for it). It runs streaming (``partial_fit`` per mini-batch, what a dataset that does not fit in memory
needs) and, for reference, ``fit`` on the whole in-memory matrix (one ``max_iter`` = one pass; a fresh fit per
point of its curve, since ``fit`` cannot be resumed).

    .venv/bin/python benchmarks/bench_nmf.py --clips 200 --passes 8

Writes ``benchmarks/results/nmf.json`` and prints a table.
"""

import os

for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_variable] = "1"  # before numpy is imported

import argparse  # noqa: E402
import glob  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from interpretability.audio import read_audio  # noqa: E402
from interpretability.data.synthetic import generate_dataset  # noqa: E402
from interpretability.interpreters.nmf import (  # noqa: E402
    SparseNMF,
    normalize_columns,
    reconstruction_terms,
    sparse_codes,
    summarize_terms,
)
from interpretability.results import atomic_write_json  # noqa: E402
from interpretability.spectral import magnitude_phase  # noqa: E402

RESULTS = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "results", "nmf.json"
)


def load_frames(folder, max_frames, seed):
    """Non-silent ``log1p|X|`` frames of every clip in ``folder/audio``, shuffled: ``[N, 513]`` float32."""
    frames = []
    paths = sorted(glob.glob(os.path.join(folder, "audio", "*.wav")))
    for start in range(0, len(paths), 32):
        wavs = torch.stack(
            [read_audio(p, 16000) for p in paths[start : start + 32]]
        )
        magnitude, _ = magnitude_phase(wavs)
        frames.append(torch.log1p(magnitude).reshape(-1, magnitude.shape[-1]))
    frames = torch.cat(frames)
    frames = frames[frames.pow(2).sum(dim=1) > 1e-8]
    order = torch.randperm(
        len(frames), generator=torch.Generator().manual_seed(seed)
    )
    return frames[order[:max_frames]].contiguous()


def score(dictionary, frames, sparsity, iterations):
    """Common-coder fit of a dictionary ``[F, K]`` (columns normalised first) on ``frames``."""
    dictionary = normalize_columns(
        torch.as_tensor(dictionary, dtype=torch.float32).clamp_min(0)
    )
    codes = sparse_codes(frames, dictionary, sparsity, iterations)
    return summarize_terms(
        [reconstruction_terms(frames, dictionary, codes, sparsity)]
    )


def run_learner(
    name,
    step,
    dictionary,
    batches,
    passes,
    eval_frames,
    sparsity,
    iterations,
    fit_pass=None,
):
    """Time ``step(batch)`` over ``passes`` passes (or ``fit_pass()`` once per pass); score after each pass."""
    curve, elapsed = [], 0.0
    for index in range(passes):
        started = time.perf_counter()
        if fit_pass is not None:
            fit_pass()
        else:
            for batch in batches:
                step(batch)
        elapsed += time.perf_counter() - started
        fit = score(dictionary(), eval_frames, sparsity, iterations)
        curve.append(
            {
                "pass": index + 1,
                "seconds": round(elapsed, 3),
                **{k: round(v, 5) for k, v in fit.items() if k != "n_frames"},
            }
        )
        print(
            f"  {name:<22} pass {index + 1:>2}  {elapsed:8.2f} s  rel. error {fit['relative_error']:.4f}  "
            f"objective {fit['objective']:.4f}  density {fit['code_density']:.3f}",
            flush=True,
        )
    return curve


def fit_curve(make, matrix, passes, eval_frames, sparsity):
    """``fit`` restarts from scratch: one fresh fit per point, with ``max_iter`` 1, 2, 4, ... ``passes``."""
    points = sorted(
        {p for p in (1, 2, 4, passes) if p <= passes}
        | set(range(8, passes + 1, 8))
    )
    curve = []
    for max_iter in points:
        model = make(max_iter)
        started = time.perf_counter()
        model.fit(matrix)
        elapsed = time.perf_counter() - started
        fit = score(model.components_.T, eval_frames, sparsity, 200)
        curve.append(
            {
                "pass": max_iter,
                "seconds": round(elapsed, 3),
                **{k: round(v, 5) for k, v in fit.items() if k != "n_frames"},
            }
        )
        print(
            f"  {'sklearn fit (in memory)':<22} pass {max_iter:>2}  {elapsed:8.2f} s  rel. error "
            f"{fit['relative_error']:.4f}  objective {fit['objective']:.4f}  density {fit['code_density']:.3f}",
            flush=True,
        )
    return curve


def seconds_to(curve, target):
    for point in curve:
        if point["relative_error"] <= target + 1e-9:
            return point["seconds"]
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--clips", type=int, default=200, help="synthetic clips (10 classes)"
    )
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--components", type=int, default=100)
    parser.add_argument(
        "--sparsity",
        type=float,
        default=0.5,
        help="L1 weight of the per-frame cost",
    )
    parser.add_argument("--batch_frames", type=int, default=2048)
    parser.add_argument("--passes", type=int, default=8)
    parser.add_argument("--max_frames", type=int, default=40000)
    parser.add_argument("--eval_frames", type=int, default=8192)
    parser.add_argument("--code_iterations", type=int, default=50)
    parser.add_argument("--out", default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    from sklearn.decomposition import MiniBatchNMF
    from threadpoolctl import threadpool_limits

    with tempfile.TemporaryDirectory() as folder:
        generate_dataset(
            folder,
            layout="esc50",
            clips_per_class=max(1, args.clips // 10),
            duration=args.duration,
            seed=0,
            n_classes=10,
            show_progress=False,
        )
        frames = load_frames(folder, args.max_frames, seed=0)
    eval_frames = frames[: args.eval_frames]
    batches = list(frames.split(args.batch_frames))
    n_features = frames.shape[1]
    common = dict(
        passes=args.passes,
        eval_frames=eval_frames,
        sparsity=args.sparsity,
        iterations=200,
    )
    print(
        f"{len(frames)} frames x {n_features} bins, {len(batches)} mini-batches of {args.batch_frames}, "
        f"K = {args.components}, sparsity {args.sparsity}"
    )

    curves = {}
    with threadpool_limits(limits=1):
        ours = SparseNMF(
            args.components,
            n_features,
            sparsity=args.sparsity,
            code_iterations=args.code_iterations,
            seed=0,
        )
        curves["ours (streaming)"] = run_learner(
            "ours (streaming)",
            ours.partial_fit,
            lambda: ours.dictionary,
            batches,
            **common,
        )
        numpy_batches = [b.numpy() for b in batches]
        alpha = args.sparsity / n_features
        options = dict(
            n_components=args.components,
            beta_loss="frobenius",
            alpha_W=alpha,
            alpha_H=0.0,
            l1_ratio=1.0,
            batch_size=args.batch_frames,
            random_state=0,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            streaming = MiniBatchNMF(**options)
            curves["sklearn partial_fit"] = run_learner(
                "sklearn partial_fit",
                streaming.partial_fit,
                lambda: streaming.components_.T,
                numpy_batches,
                **common,
            )
            matrix = frames.numpy()
            curves["sklearn fit (in memory)"] = fit_curve(
                lambda max_iter: MiniBatchNMF(
                    **options,
                    max_iter=max_iter,
                    tol=0.0,
                    max_no_improvement=None,
                ),
                matrix,
                args.passes,
                eval_frames,
                args.sparsity,
            )

    target = max(
        min(p["relative_error"] for p in curve) for curve in curves.values()
    )
    sklearn_best = min(
        p["relative_error"] for p in curves["sklearn partial_fit"]
    )
    summary = {}
    for name, curve in curves.items():
        summary[name] = {
            "seconds_to_target": seconds_to(curve, target),
            "seconds_to_sklearn_streaming_best": seconds_to(
                curve, sklearn_best
            ),
            "final": curve[-1],
        }
    result = {
        "benchmark": "nmf",
        "frames": int(len(frames)),
        "n_features": int(n_features),
        "components": args.components,
        "sparsity": args.sparsity,
        "batch_frames": args.batch_frames,
        "passes": args.passes,
        "eval_frames": int(len(eval_frames)),
        "threads": 1,
        "target_relative_error": round(target, 5),
        "sklearn_streaming_best_relative_error": round(sklearn_best, 5),
        "summary": summary,
        "curves": curves,
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "sklearn": __import__("sklearn").__version__,
        "numpy": np.__version__,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    atomic_write_json(args.out, result)
    print(
        f"\ntarget relative error {target:.4f} (the worst learner's best), {sklearn_best:.4f} (sklearn streaming's "
        f"best); common coder, sparsity {args.sparsity}"
    )
    print(
        f"{'learner':<26}{'s to target':>12}{'s to sk best':>13}{'total s':>9}{'rel. error':>11}{'objective':>11}"
        f"{'density':>9}"
    )
    for name, entry in summary.items():
        final = entry["final"]
        to_target, to_best = (
            "-" if entry[key] is None else f"{entry[key]:.2f}"
            for key in (
                "seconds_to_target",
                "seconds_to_sklearn_streaming_best",
            )
        )
        print(
            f"{name:<26}{to_target:>12}{to_best:>13}{final['seconds']:>9.2f}{final['relative_error']:>11.4f}"
            f"{final['objective']:>11.4f}{final['code_density']:>9.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
