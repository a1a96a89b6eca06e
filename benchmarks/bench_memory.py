"""Peak memory of the comparison (``evaluate.py``), AND (``dissect_and.py``) and ``python -m interpretability.explain``
as the number of clips grows: each streams over its clips, so its peak resident memory must stay flat (within 10 %)
when the clips grow 4x (explain: 10x files).

Every measurement is a fresh subprocess (one thread) on a synthetic ESC-50-layout set of ``--clip_seconds`` clips
(5 s, ESC-50's length: a cache of spectrograms that grew with the clips would show) with a small random classifier
and an untrained L-MAC decoder of it (memory does not depend on the weights); its peak RSS is the kernel's
``ru_maxrss`` of that process (``os.wait4``). The comparison runs two gradient baselines, L-MAC and the controls in
three conditions, with the cascading sanity check; AND runs every stage with the acoustic captioner and the
extractive summariser on the probing clips, pruning also on 16 held-out clips.

    .venv/bin/python benchmarks/bench_memory.py --n 40 --explain_files 100 --json benchmarks/results/memory.json

Measured on 2 shared CPU cores (22 min): comparison 1101 -> 1060 MB (40 -> 160 clips), AND 1264 -> 1365 MB
(+8 %: its spectrogram cache, ``cache_mb`` = 128, fills up; flat beyond it), explain 930 -> 922 MB (100 -> 1000
files). The exit status is 1 when one of them is not flat.

Prints (and with ``--json`` writes) ``{"comparison": {"n": [N, 4N], "peak_mb": [...], "growth": ..., "flat": ...},
"and": {...}, "explain": {...}, "settings": {...}}``; ``growth`` is peak(large) / peak(small) - 1 and ``flat`` is
``growth <= 0.10``.
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

FLAT = 0.10


def peak_rss_mb(command, cwd, log_path):
    """Run ``command``; return (peak RSS of its process in MB, seconds). Raises on failure."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = ROOT + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
    )
    started = time.perf_counter()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        with open(log_path, encoding="utf-8", errors="replace") as handle:
            raise RuntimeError(
                f"{' '.join(command)} failed ({process.returncode}):\n{handle.read()[-3000:]}"
            )
    return usage.ru_maxrss / 1024.0, time.perf_counter() - started


def make_setup(folder, n_large, clip_seconds):
    """A synthetic ESC-50 set whose test fold holds ``n_large`` clips, a random classifier, an untrained L-MAC."""
    import torch

    from interpretability.brains.training import layer_channels
    from interpretability.classifiers import build_classifier
    from interpretability.classifiers.io import export_classifier
    from interpretability.data.synthetic import generate_dataset
    from interpretability.inference import export_interpreter
    from interpretability.interpreters.lmac import LMACDecoder

    n_classes = 4
    done = os.path.join(folder, "setup.json")
    if os.path.isfile(
        done
    ):  # --keep: the set made by an earlier run with the same sizes
        with open(done, encoding="utf-8") as handle:
            setup = json.load(handle)
        if setup.pop("key") == [n_large, clip_seconds]:
            return setup
    per_class = -(-5 * n_large // n_classes)  # five folds of equal size
    made = generate_dataset(
        os.path.join(folder, "data"),
        layout="esc50",
        clips_per_class=per_class,
        duration=clip_seconds,
        n_classes=n_classes,
        seed=5,
        show_progress=False,
    )
    torch.manual_seed(0)
    model = build_classifier(
        "compact_cnn", n_classes=n_classes, channels=[8, 16, 16, 32]
    ).eval()
    classifier = export_classifier(
        model, os.path.join(folder, "classifier"), made["classes"], clip_seconds
    )
    decoder = LMACDecoder(
        layer_channels=layer_channels(model, clip_seconds), width=16
    )
    lmac = export_interpreter(
        os.path.join(folder, "lmac"), decoder, decoder.config, classifier
    )
    setup = {
        "data": os.path.join(folder, "data"),
        "classifier": classifier,
        "lmac": lmac,
    }
    with open(done, "w", encoding="utf-8") as handle:
        json.dump({**setup, "key": [n_large, clip_seconds]}, handle)
    return setup


def run_comparison(setup, n, out, clip_seconds):
    command = [
        sys.executable,
        "evaluate.py",
        "hparams/evaluate_cnn6.yaml",
        f"--data_folder={setup['data']}",
        f"--pretrained_classifier={setup['classifier']}",
        f"--pretrained_interpreter={setup['lmac']}",
        f"--output_folder={out}",
        f"--clip_seconds={clip_seconds}",
        f"--max_clips={n}",
        "--batch_size=8",
        "--methods=[saliency,gradcam]",
        "--mel_domain_baselines=False",
        "--conditions=[in_domain,other_class_mixture,white_noise]",
        "--sanity_clips=4",
        "--sanity_steps=2",
        "--sanity_retrain=False",
        "--noprogressbar",
    ]
    return peak_rss_mb(
        command, os.path.join(ROOT, "recipes", "ESC50"), out + ".log"
    )


def run_and(setup, n, out, clip_seconds):
    command = [
        sys.executable,
        "dissect_and.py",
        "hparams/and_cnn6.yaml",
        f"--data_folder={setup['data']}",
        f"--pretrained_classifier={setup['classifier']}",
        f"--output_folder={out}",
        f"--clip_seconds={clip_seconds}",
        "--probing_splits=[test]",
        f"--max_clips={n}",
        "--top_k=3",
        "--neurons_per_layer=4",
        "--random_repeats=1",
        "--pruning_strategies=[db,label]",
        "--n_clusters=3",
        "--max_heldout_clips=16",
        "--batch_size=8",
        "--noprogressbar",
    ]
    return peak_rss_mb(
        command, os.path.join(ROOT, "recipes", "ESC50"), out + ".log"
    )


def run_explain(setup, files, out):
    command = [
        sys.executable,
        "-m",
        "interpretability.explain",
        "--interpreter",
        setup["lmac"],
        "--out",
        out,
        *files,
    ]
    return peak_rss_mb(command, ROOT, out + ".log")


def entry(sizes, results):
    peaks = [round(peak, 1) for peak, _ in results]
    growth = peaks[-1] / peaks[0] - 1.0
    return {
        "n": sizes,
        "peak_mb": peaks,
        "seconds": [round(s, 1) for _, s in results],
        "growth": round(growth, 4),
        "flat": growth <= FLAT,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--n",
        type=int,
        default=40,
        help="clips of the small run (the large one has 4x)",
    )
    parser.add_argument("--clip_seconds", type=float, default=5.0)
    parser.add_argument(
        "--explain_files",
        type=int,
        default=100,
        help="files of the small explain run (x10)",
    )
    parser.add_argument("--explain_seconds", type=float, default=0.5)
    parser.add_argument(
        "--only",
        nargs="*",
        choices=["comparison", "and", "explain"],
        default=["comparison", "and", "explain"],
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes (10 / 40 clips, 20 / 200 files): minutes instead of ~20 on 2 cores",
    )
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument(
        "--keep",
        help="work in this folder and keep it (default: a temporary folder)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.explain_files = 10, 20

    folder = args.keep or tempfile.mkdtemp(prefix="bench_memory_")
    os.makedirs(folder, exist_ok=True)
    try:
        sizes = [args.n, 4 * args.n]
        setup = make_setup(folder, sizes[-1], args.clip_seconds)
        report = {}
        if "comparison" in args.only:
            report["comparison"] = entry(
                sizes,
                [
                    run_comparison(
                        setup,
                        n,
                        os.path.join(folder, f"comparison_{n}"),
                        args.clip_seconds,
                    )
                    for n in sizes
                ],
            )
        if "and" in args.only:
            report["and"] = entry(
                sizes,
                [
                    run_and(
                        setup,
                        n,
                        os.path.join(folder, f"and_{n}"),
                        args.clip_seconds,
                    )
                    for n in sizes
                ],
            )
        if "explain" in args.only:
            import torch

            from interpretability.audio import write_audio

            counts = [args.explain_files, 10 * args.explain_files]
            audio = os.path.join(folder, "explain_audio")
            generator = torch.Generator().manual_seed(0)
            paths = []
            for index in range(counts[-1]):
                path = os.path.join(audio, f"clip{index:05d}.wav")
                write_audio(
                    path,
                    0.1
                    * torch.randn(
                        int(args.explain_seconds * 16000), generator=generator
                    ),
                )
                paths.append(path)
            report["explain"] = entry(
                counts,
                [
                    run_explain(
                        setup, paths[:n], os.path.join(folder, f"explain_{n}")
                    )
                    for n in counts
                ],
            )
        report["settings"] = {
            "clip_seconds": args.clip_seconds,
            "explain_seconds": args.explain_seconds,
            "flat_within": FLAT,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
        }
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        from interpretability.results import atomic_write_text

        atomic_write_text(args.json, text + "\n")
    return (
        0
        if all(
            v.get("flat", True) for v in report.values() if isinstance(v, dict)
        )
        else 1
    )


if __name__ == "__main__":
    sys.exit(main())
