#!/usr/bin/env python3
"""L-MAC with the recipe's defaults and with the few-clips settings against GradCAM, on several small hard sets.

The hard-variant recipe row (tests/recipe_tests/test_hard_variant.py) checks one small hard set; this measures how
often that lead holds: for each generator seed, a hard set of the row's size (``--clips_per_class`` x
``--n_classes`` clips of ``--duration`` s), a compact classifier trained on it as the row trains it, then
:mod:`lmac_hard_variant` with the two changes below over ``--lmac_seeds`` (each run: L-MAC trained 10 epochs,
scored with GradCAM on the test fold in the three conditions).

    python benchmarks/lmac_hard_sets.py --generator_seeds 7 9 10 11 12 --work H/sets \\
        --out docs/experiments/lmac_hard_sets_amd_fp32.json

A set, classifier or run already in ``--work`` is reused. The ESC-50 README's table is rendered from the output
(``python -m interpretability.report.demo_tables``).
"""

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
sys.path.insert(0, ROOT)

import lmac_hard_variant  # noqa: E402

FEW_CLIPS_CHANGE = "coloured noise 0.5, gain +-24 dB, L1 weight 3.2, checkpoint by AG of changed validation clips"
CHANGES = ("recipe defaults", FEW_CLIPS_CHANGE)


def make_set(args, generator_seed):
    """``(data, classifier)`` folders of one generator seed's hard set, made and trained unless already there."""
    from interpretability.data.synthetic import generate_dataset

    folder = os.path.join(args.work, f"g{generator_seed}")
    data, classifier = (
        os.path.join(folder, name) for name in ("data", "classifier")
    )
    if not os.path.isfile(os.path.join(data, "meta", "esc50.csv")):
        generate_dataset(
            data,
            variant="hard",
            clips_per_class=args.clips_per_class,
            duration=args.duration,
            n_classes=args.n_classes,
            seed=generator_seed,
            show_progress=False,
        )
    if not os.path.isfile(os.path.join(classifier, "test_metrics.json")):
        command = [
            sys.executable,
            "train_classifier.py",
            "hparams/classifier_cnn6.yaml",
            f"--data_folder={data}",
            f"--output_folder={classifier}",
            f"--n_classes={args.n_classes}",
            f"--clip_seconds={args.duration}",
            f"--number_of_epochs={args.classifier_epochs}",
            f"--precision={args.precision}",
        ]
        result = subprocess.run(
            command,
            cwd=os.path.join(ROOT, "recipes", "ESC50"),
            capture_output=True,
            text=True,
            env=dict(os.environ, OMP_NUM_THREADS=str(args.threads)),
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} failed:\n{result.stderr[-4000:]}"
            )
    return data, classifier


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generator_seeds", type=int, nargs="+", required=True)
    parser.add_argument("--clips_per_class", type=int, default=15)
    parser.add_argument("--n_classes", type=int, default=6)
    parser.add_argument("--duration", type=float, default=1.0)
    parser.add_argument("--classifier_epochs", type=int, default=16)
    parser.add_argument(
        "--lmac_seeds", type=int, nargs="+", default=[1986, 1987]
    )
    parser.add_argument(
        "--changes",
        nargs="+",
        default=list(CHANGES),
        help="names of lmac_hard_variant.CHANGES to run on every set",
    )
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--work", required=True, help="folder of the sets and runs"
    )
    parser.add_argument("--out", required=True, help="JSON file written")
    args = parser.parse_args(argv)
    from interpretability.results import atomic_write_json
    from interpretability.runtime import cpu_model

    summary = {
        "set": {
            "clips_per_class": args.clips_per_class,
            "n_classes": args.n_classes,
            "duration": args.duration,
            "classifier_epochs": args.classifier_epochs,
        },
        "lmac_seeds": args.lmac_seeds,
        "precision": args.precision,
        "machine": f"{cpu_model()}, {os.cpu_count()} CPUs",
        "sets": [],
    }
    for generator_seed in args.generator_seeds:
        data, classifier = make_set(args, generator_seed)
        report_path = os.path.join(
            args.work, f"g{generator_seed}", "report.json"
        )
        lmac_hard_variant.main(
            [
                f"--data={data}",
                f"--classifier={classifier}",
                f"--clip_seconds={args.duration}",
                f"--precision={args.precision}",
                f"--threads={args.threads}",
                f"--work={os.path.join(args.work, f'g{generator_seed}', 'runs')}",
                f"--out={report_path}",
                "--seeds",
                *map(str, args.lmac_seeds),
                "--changes",
                *args.changes,
            ]
        )
        with open(report_path, encoding="utf-8") as handle:
            report = json.load(handle)
        summary["sets"].append(
            {
                "generator_seed": generator_seed,
                **{
                    key: report[key]
                    for key in (
                        "classifier_acc",
                        "test_rows",
                        "conditions",
                        "gradcam",
                        "changes",
                    )
                },
            }
        )
        atomic_write_json(args.out, summary)


if __name__ == "__main__":
    main()
