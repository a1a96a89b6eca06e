#!/usr/bin/env python3
"""L-MAC's learning curve: faithfulness against the number of clips per class the interpreter is trained on.

For each point (``--clips_per_class 5 10 20 all``) an L-MAC decoder is trained by the ESC-50 recipe
(``recipes/ESC50/train_lmac.py``, ``hparams/lmac_cnn6.yaml`` with ``--lmac_args`` added) on a subset of the
training folds: the first ``k`` clips of each class in the order of ``meta/esc50.csv`` (the valid and test folds
stay whole, so every point is selected and scored on the same clips). The subset is a data folder of its own whose
``meta/esc50.csv`` lists fewer training clips, its audio linked to the original's: no option of the recipe
changes. Its wall-clock training time (the recipe run, validation every epoch included) is measured. Then every
decoder and GradCAM explain the same test clips in each condition (``interpretability.evaluation.comparison``, the
protocol of ``evaluate.py``: the same clips, mixtures and seed), and AI / AD / AG are recorded.

    python benchmarks/lmac_learning_curve.py --data results/demo/synthetic --classifier results/demo/classifier \\
        --clips_per_class 5 10 20 all --out docs/experiments/lmac_learning_curve.json

``--jobs 2`` trains two points at once (each with ``--threads`` torch threads: their times are then taken beside
each other). ``--compare NAME=RUN_FOLDER ...`` skips training and only compares already trained L-MAC runs with
GradCAM (e.g. on the hard variant). Writes the JSON after each stage; the ESC-50 README's table is rendered from it
(``python -m interpretability.report.demo_tables``).
"""

import argparse
import csv
import json
import logging
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import torch
from experiment_args import add_demo_run_arguments

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
RECIPE = os.path.join(ROOT, "recipes", "ESC50")
CONDITIONS = ("in_domain", "other_class_mixture", "white_noise")
KEYS = ("AI", "AD", "AG", "MM")
TRAIN_FOLDS = ("1", "2", "3")


def subset_folder(data, out, clips_per_class):
    """A data folder holding the first ``clips_per_class`` training clips of each class of ``data`` (the valid
    and test folds whole): ``meta/esc50.csv`` rewritten, everything else linked. Returns ``(folder, n_train)``."""
    data = os.path.abspath(data)
    os.makedirs(os.path.join(out, "meta"), exist_ok=True)
    for name in os.listdir(data):
        if name != "meta" and not os.path.lexists(os.path.join(out, name)):
            os.symlink(os.path.join(data, name), os.path.join(out, name))
    for name in os.listdir(os.path.join(data, "meta")):
        target = os.path.join(out, "meta", name)
        if name != "esc50.csv" and not os.path.lexists(target):
            os.symlink(os.path.join(data, "meta", name), target)
    with open(
        os.path.join(data, "meta", "esc50.csv"), newline="", encoding="utf-8"
    ) as handle:
        reader = csv.DictReader(handle)
        fields, rows = reader.fieldnames, list(reader)
    kept, taken = [], {}
    for row in rows:
        if row["fold"] in TRAIN_FOLDS:
            if (
                clips_per_class is not None
                and taken.get(row["target"], 0) >= clips_per_class
            ):
                continue
            taken[row["target"]] = taken.get(row["target"], 0) + 1
        kept.append(row)
    with open(
        os.path.join(out, "meta", "esc50.csv"),
        "w",
        newline="",
        encoding="utf-8",
    ) as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(kept)
    return out, sum(taken.values())


def train_point(data, classifier, output, clip_seconds, extra_args, threads):
    """Run the L-MAC recipe; ``(seconds, epochs run, test metrics)``."""
    command = [
        sys.executable,
        "train_lmac.py",
        os.path.join("hparams", "lmac_cnn6.yaml"),
        f"--data_folder={data}",
        f"--clip_seconds={clip_seconds}",
        f"--output_folder={output}",
        f"--pretrained_classifier={classifier}",
        "--n_export=0",
        *extra_args,
    ]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONPATH=ROOT)
    started = time.time()
    result = subprocess.run(
        command, cwd=RECIPE, capture_output=True, text=True, env=env
    )
    seconds = time.time() - started
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed:\n{result.stderr[-4000:]}"
        )
    with open(
        os.path.join(output, "train_log.txt"), encoding="utf-8"
    ) as handle:
        epochs = sum(1 for line in handle if line.startswith("epoch:"))
    with open(
        os.path.join(output, "test_metrics.json"), encoding="utf-8"
    ) as handle:
        return seconds, epochs, json.load(handle)


def compare_runs(
    data,
    classifier_folder,
    runs,
    clip_seconds,
    conditions=CONDITIONS,
    methods=("gradcam",),
    seed=1986,
    batch_size=8,
    derived=None,
):
    """``{condition: {name: {AI, AD, AG, MM, n_rows}}}`` of the L-MAC runs ``{name: folder}`` and the gradient
    ``methods`` on the test folds of ``data``, as ``evaluate.py`` compares them (its default seed and batch size,
    so the clips, partners and noise are the recipe's). ``derived``: a function of the explainers
    ``{name: explainer}`` returning more explainers to score beside them (masks made from theirs)."""
    import tempfile

    from interpretability.classifiers.io import load_classifier
    from interpretability.data.esc50 import prepare_esc50
    from interpretability.data.pipelines import classification_datasets
    from interpretability.evaluation.comparison import (
        _evaluation_clips,
        clip_batches,
        compare,
        other_class_partners,
    )
    from interpretability.evaluation.explainers import load_trained_explainer
    from interpretability.interpreters.gradient import gradient_explainers

    if os.path.isdir(os.path.join(classifier_folder, "classifier")):
        classifier_folder = os.path.join(classifier_folder, "classifier")
    classifier, _ = load_classifier(classifier_folder)
    classifier = classifier.eval().requires_grad_(False)
    with tempfile.TemporaryDirectory() as save:
        manifests = prepare_esc50(data, save)
        dataset = classification_datasets(manifests, clip_seconds)["test"]
        explainers = dict(
            gradient_explainers(
                classifier, methods, "linear", layer=None, seed=seed
            )
        )
        for name, folder in runs.items():
            explainers[name] = load_trained_explainer(
                folder, classifier, classifier_folder
            )[0]
        if derived is not None:
            explainers.update(derived(explainers))
        indices, labels = _evaluation_clips(dataset, False, None, seed)
        partners = other_class_partners(
            labels, torch.Generator().manual_seed(seed)
        )
        batches = clip_batches(dataset, indices, partners, batch_size)
        results, _ = compare(
            classifier,
            explainers,
            batches,
            list(conditions),
            seed=seed,
            classes=manifests["classes"],
            show_progress=False,
            keep_rows=0,
        )
    return {
        condition: {
            name: {key: round(float(scores[key]), 2) for key in KEYS}
            | {"n_rows": scores["n_rows"]}
            for name, scores in by_method.items()
        }
        for condition, by_method in results.items()
    }


def leads(lmac, baseline):
    """Whether L-MAC is ahead of the baseline on AI (higher), AD (lower) and AG (higher): ``{key: bool}``."""
    return {
        "AI": lmac["AI"] > baseline["AI"],
        "AD": lmac["AD"] < baseline["AD"],
        "AG": lmac["AG"] > baseline["AG"],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_demo_run_arguments(parser)
    parser.add_argument(
        "--clips_per_class",
        nargs="+",
        default=["5", "10", "20", "all"],
        help="training clips per class of each point ('all': the training folds)",
    )
    parser.add_argument("--clip_seconds", type=float, default=2.0)
    parser.add_argument(
        "--lmac_args",
        action="append",
        default=None,
        help="an extra option of train_lmac.py, repeatable, e.g. --lmac_args=--precision=bf16 "
        "(default: --number_of_epochs=10)",
    )
    parser.add_argument("--conditions", nargs="+", default=list(CONDITIONS))
    parser.add_argument(
        "--compare",
        nargs="*",
        default=None,
        metavar="NAME=RUN",
        help="only compare these trained L-MAC runs with GradCAM (no training)",
    )
    parser.add_argument(
        "--work",
        default=os.path.join(
            ROOT, "benchmarks", "results", "lmac_learning_curve"
        ),
        help="folder of the subsets and runs",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads of each training and the comparison",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="points trained at once (each with --threads)",
    )
    parser.add_argument("--out", required=True, help="JSON file written")
    args = parser.parse_args(argv)
    args.lmac_args = args.lmac_args or ["--number_of_epochs=10"]
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    from interpretability.results import atomic_write_json

    report = {
        "data": os.path.relpath(args.data, ROOT),
        "classifier": os.path.relpath(args.classifier, ROOT),
        "clip_seconds": args.clip_seconds,
        "conditions": args.conditions,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared), torch threads {args.threads}",
    }
    if args.compare is not None:
        runs = dict(item.split("=", 1) for item in args.compare)
        report["runs"] = {
            name: os.path.relpath(folder, ROOT) for name, folder in runs.items()
        }
        report["comparison"] = compare_runs(
            args.data, args.classifier, runs, args.clip_seconds, args.conditions
        )
        atomic_write_json(args.out, report)
        print(json.dumps(report["comparison"], indent=1))
        return
    report.update(lmac_args=args.lmac_args, jobs=args.jobs, points=[])

    def train(point):
        k = None if point == "all" else int(point)
        folder, n_train = subset_folder(
            args.data, os.path.join(args.work, f"data_{point}"), k
        )
        output = os.path.join(args.work, f"lmac_{point}")
        seconds, epochs, test = train_point(
            folder,
            os.path.abspath(args.classifier),
            output,
            args.clip_seconds,
            args.lmac_args,
            args.threads,
        )
        entry = {
            "clips_per_class": point,
            "train_clips": n_train,
            "train_seconds": round(seconds),
            "epochs_run": epochs,
            "recipe_test": {key: round(float(test[key]), 2) for key in KEYS},
        }
        print(json.dumps(entry), flush=True)
        return output, entry

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        trained = list(pool.map(train, args.clips_per_class))
    runs = {
        point: output
        for point, (output, _) in zip(args.clips_per_class, trained)
    }
    report["points"] = [entry for _, entry in trained]
    atomic_write_json(args.out, report)
    started = time.time()
    comparison = compare_runs(
        args.data, args.classifier, runs, args.clip_seconds, args.conditions
    )
    report["compare_seconds"] = round(time.time() - started)
    report["gradcam"] = {c: comparison[c]["gradcam"] for c in args.conditions}
    for entry in report["points"]:
        point = entry["clips_per_class"]
        entry["lmac"] = {c: comparison[c][point] for c in args.conditions}
        entry["leads_gradcam"] = {
            c: leads(comparison[c][point], comparison[c]["gradcam"])
            for c in args.conditions
        }
    atomic_write_json(args.out, report)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
