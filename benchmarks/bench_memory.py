"""Memory growth of the comparison (``evaluate.py``) and of AND (``dissect_and.py``) with the number of clips:
peak resident memory over N and 4N clips, as a ratio.

Each run is the recipe command a user types, in a fresh process, on a synthetic ESC-50-layout set: the comparison
of ``--max_clips`` N then 4N test clips (in-domain and white noise; saliency, Grad-CAM, L-MAC and the two controls;
no sanity check), and the label-based AND (``--skip_stages=[descriptions]``, no captioner) probing N then 4N clips
with as many held-out clips. The classifier (the compact CNN of ``classifier_cnn6.yaml``) and the L-MAC decoder are
randomly initialised and exported as ``train_classifier.py`` / ``train_lmac.py`` would: the memory a run holds does
not depend on the weights. Peak memory is the child's ``ru_maxrss`` (``os.wait4``), which includes the interpreter,
torch and the model; ``growth`` = peak(4N) / peak(N) (1.0: memory does not grow with the clips) and
``mb_per_clip`` = (peak(4N) - peak(N)) / 3N.

    .venv/bin/python benchmarks/bench_memory.py --clips 16

Writes ``benchmarks/results/memory.json`` and prints a table.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

RESULTS = os.path.join(ROOT, "benchmarks", "results", "memory.json")
RECIPES = os.path.join(ROOT, "recipes", "ESC50")


def prepare(folder, clips, clip_seconds):
    """Synthetic data with >= ``clips`` test clips (fold 5) and >= ``clips`` validation clips, an exported
    classifier and an interpreter folder; returns their paths."""
    import torch

    from interpretability.classifiers.base import build_classifier
    from interpretability.classifiers.io import export_classifier
    from interpretability.data.synthetic import generate_dataset
    from interpretability.inference import check_interpreter_fits, classifier_layer_channels, export_interpreter
    from interpretability.interpreters.lmac import LMACDecoder

    data = os.path.join(folder, "data")
    n_classes = 10
    per_class = -(-clips * 5 // n_classes)  # fold 5 holds a fifth of the clips
    summary = generate_dataset(data, layout="esc50", clips_per_class=per_class, duration=clip_seconds, seed=0,
                               n_classes=n_classes, show_progress=False)
    torch.manual_seed(0)
    model = build_classifier("compact_cnn", n_classes).eval()
    classifier = export_classifier(model, os.path.join(folder, "classifier"), summary["classes"], clip_seconds)
    decoder = LMACDecoder(classifier_layer_channels(model, clip_seconds), width=64)
    check_interpreter_fits(decoder, model, folder, classifier, clip_seconds)
    interpreter = export_interpreter(os.path.join(folder, "lmac", "interpreter"), decoder, decoder.config, classifier)
    return data, classifier, interpreter


def peak_rss_mb(command, cwd, log):
    """Run ``command``; ``(peak resident MB of that process, seconds)`` (Linux ``ru_maxrss`` is in KiB)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([ROOT, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    started = time.perf_counter()
    with open(log, "w", encoding="utf-8") as handle:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        with open(log, encoding="utf-8") as handle:
            tail = handle.read()[-3000:]
        raise RuntimeError(f"{' '.join(command)} failed ({process.returncode}):\n{tail}")
    return usage.ru_maxrss / 1024, time.perf_counter() - started


def commands(kind, clips, data, classifier, interpreter, out, clip_seconds):
    common = [f"--data_folder={data}", f"--output_folder={out}", f"--clip_seconds={clip_seconds}",
              "--download=False", f"--pretrained_classifier={classifier}"]
    if kind == "comparison":
        return [sys.executable, "evaluate.py", "hparams/evaluate_cnn6.yaml", *common,
                f"--pretrained_interpreter={interpreter}", f"--max_clips={clips}", "--batch_size=8",
                "--conditions=[in_domain,white_noise]", "--methods=[saliency,gradcam]",
                "--mel_domain_baselines=False", "--sanity_clips=0"]
    return [sys.executable, "dissect_and.py", "hparams/and_cnn6.yaml", *common, f"--max_clips={clips}",
            f"--max_heldout_clips={clips}", "--skip_stages=[descriptions]", "--pruning_strategies=[label]",
            "--random_repeats=1", "--batch_size=8"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=16, help="N: the small run; the large one has 4N")
    parser.add_argument("--clip_seconds", type=float, default=1.0)
    parser.add_argument("--kinds", nargs="+", default=["comparison", "and"], choices=["comparison", "and"])
    parser.add_argument("--out", default=RESULTS)
    args = parser.parse_args(argv)
    from interpretability.results import atomic_write_json

    result = {"benchmark": "memory", "clips": args.clips, "clip_seconds": args.clip_seconds,
              "classifier": "compact_cnn (classifier_cnn6.yaml)", "threads": 1, "runs": {},
              "machine": platform.machine(), "processor": platform.processor() or platform.machine(),
              "python": platform.python_version()}
    with tempfile.TemporaryDirectory() as folder:
        data, classifier, interpreter = prepare(folder, 4 * args.clips, args.clip_seconds)
        for kind in args.kinds:
            row = {}
            for size in (args.clips, 4 * args.clips):
                out = os.path.join(folder, f"{kind}_{size}")
                peak, seconds = peak_rss_mb(commands(kind, size, data, classifier, interpreter, out,
                                                     args.clip_seconds), RECIPES, out + ".log")
                row[f"peak_mb_{size}"] = round(peak, 1)
                row[f"seconds_{size}"] = round(seconds, 1)
                print(f"  {kind:<11} {size:>4} clips  peak {peak:8.1f} MB  {seconds:6.1f} s", flush=True)
            small, large = row[f"peak_mb_{args.clips}"], row[f"peak_mb_{4 * args.clips}"]
            row["growth"] = round(large / small, 3)
            row["mb_per_clip"] = round((large - small) / (3 * args.clips), 3)
            result["runs"][kind] = row
    atomic_write_json(args.out, result)
    print(f"{'run':<12}{'N':>5}{'peak N (MB)':>13}{'peak 4N (MB)':>14}{'growth':>8}{'MB / clip':>11}")
    for kind, row in result["runs"].items():
        print(f"{kind:<12}{args.clips:>5}{row[f'peak_mb_{args.clips}']:>13.1f}"
              f"{row[f'peak_mb_{4 * args.clips}']:>14.1f}{row['growth']:>8.3f}{row['mb_per_clip']:>11.3f}")
    print(json.dumps({kind: row["growth"] for kind, row in result["runs"].items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
