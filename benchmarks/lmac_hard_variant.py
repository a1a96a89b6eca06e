#!/usr/bin/env python3
"""L-MAC against GradCAM on the hard synthetic variant: every change tried to L-MAC's training, measured.

The benchmark of "L-MAC on few clips of hard sounds": the hard variant of the synthetic set (sounds that fill the
clip, band-limited clips, unequal classes, few clips) at its default size, a compact classifier trained on it, and
one L-MAC decoder per (change, seed), each trained by the ESC-50 recipe (``lmac_cnn6.yaml``, 10 epochs, the
change's options added) on all training clips and scored with GradCAM on the same test clips in the three
conditions of ``evaluate.py`` (:mod:`lmac_learning_curve` does each run). A change's scores are the mean over its
seeds; it *leads* in a condition when that mean is ahead of GradCAM on AI, AD and AG together.

    python -m interpretability.data.synthetic --variant hard --out H/data --duration 2.0 --seed 7
    (cd recipes/ESC50 && python train_classifier.py hparams/classifier_cnn6.yaml --data_folder H/data \\
        --output_folder H/clf --clip_seconds=2.0 --number_of_epochs=20 --precision=bf16)
    python benchmarks/lmac_hard_variant.py --data H/data --classifier H/clf --work H/runs \\
        --out docs/experiments/lmac_hard_variant.json

For the recipe defaults and the gain, L-MAC and GradCAM are also compared at the same area (``matched_area``): both
masks made binary, each row keeping as many of its highest cells as L-MAC's mask sums to. A run whose JSON is
already in ``--work`` is not trained again. The ESC-50 README's table is rendered from the
output (``python -m interpretability.report.demo_tables``).
"""

import argparse
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONDITIONS = ("in_domain", "other_class_mixture", "white_noise")
METRICS = ("AI", "AD", "AG", "MM")
BASE_ARGS = ("--number_of_epochs=10", "--precision=bf16")
RECIPE_SEED = 1986  # lmac_cnn6.yaml's seed: runs with it get no --seed option

BY_VALID_AG = ("--checkpoint_key=AG", "--checkpoint_mode=max")

# (what changes, options of train_lmac.py added to BASE_ARGS, how many of --seeds it is trained with): the
# changes that one seed ruled out keep one run; the candidates are repeated over seeds, as one seed's scores swing
# by tens of AI points.
CHANGES = (
    ("recipe defaults", (), 3),
    (
        "40 epochs, no early stop",
        ("--number_of_epochs=40", "--patience=100"),
        1,
    ),
    ("contaminant share 0.9 (default 0.5)", ("--contaminant_prob=0.9",), 1),
    ("decoder width 32 (default 64)", ("--decoder_width=32",), 1),
    (
        "decoder reads blocks 3 and 4 only",
        ("--decoder_layers=[conv_block3,conv_block4]",),
        1,
    ),
    ("mask-out weight 1.0 (default 0.2)", ("--l_out=1.0",), 1),
    ("log1p mask domain", ("--mask_domain=log1p",), 1),
    ("L1 weight 3.2 (default 6.4)", ("--l_1=3.2",), 1),
    ("L1 weight 1.6", ("--l_1=1.6",), 1),
    ("time shift", ("--time_shift=True",), 3),
    ("time shift, L1 weight 3.2", ("--time_shift=True", "--l_1=3.2"), 2),
    ("time shift, L1 weight 1.6", ("--time_shift=True", "--l_1=1.6"), 1),
    ("gain +-24 dB", ("--gain_db=24.0",), 3),
    ("gain +-24 dB, time shift", ("--gain_db=24.0", "--time_shift=True"), 3),
    ("gain +-36 dB", ("--gain_db=36.0",), 3),
    ("gain +-24 dB, L1 weight 1.6", ("--gain_db=24.0", "--l_1=1.6"), 3),
    ("coloured noise 0.5", ("--noise_prob=0.5",), 3),
    (
        "coloured noise 0.5, gain +-24 dB",
        ("--noise_prob=0.5", "--gain_db=24.0"),
        3,
    ),
    (
        "coloured noise 0.5, L1 weight 3.2",
        ("--noise_prob=0.5", "--l_1=3.2"),
        3,
    ),
    (
        "coloured noise 0.5, gain +-24 dB, L1 weight 1.6",
        ("--noise_prob=0.5", "--gain_db=24.0", "--l_1=1.6"),
        3,
    ),
    # the checkpoint kept (and the early stop) by the validation fold's AG instead of its loss
    ("checkpoint by validation AG", BY_VALID_AG, 3),
    (
        "coloured noise 0.5, gain +-24 dB, checkpoint by validation AG",
        ("--noise_prob=0.5", "--gain_db=24.0", *BY_VALID_AG),
        3,
    ),
    (
        "coloured noise 0.5, L1 weight 3.2, checkpoint by validation AG",
        ("--noise_prob=0.5", "--l_1=3.2", *BY_VALID_AG),
        3,
    ),
    (
        "coloured noise 0.5, gain +-24 dB, L1 weight 3.2, checkpoint by validation AG",
        ("--noise_prob=0.5", "--gain_db=24.0", "--l_1=3.2", *BY_VALID_AG),
        3,
    ),
    (
        "coloured noise 0.5, gain +-24 dB, L1 weight 1.6, checkpoint by validation AG",
        ("--noise_prob=0.5", "--gain_db=24.0", "--l_1=1.6", *BY_VALID_AG),
        3,
    ),
    # ... and the validation clips changed as the training clips are (fixed draws), for three L1 weights
    *(
        (
            f"coloured noise 0.5, gain +-24 dB{l1_name}, checkpoint by AG of changed validation clips",
            (
                "--noise_prob=0.5",
                "--gain_db=24.0",
                *l1_args,
                *BY_VALID_AG,
                "--valid_augmented=True",
            ),
            3,
        )
        for l1_name, l1_args in (
            ("", ()),
            (", L1 weight 3.2", ("--l_1=3.2",)),
            (", L1 weight 1.6", ("--l_1=1.6",)),
        )
    ),
)

# (name, the changes it chooses from): per seed, the run whose kept checkpoint has the highest validation AG; the
# test clips play no part in the choice
SELECTIONS = (
    (
        "coloured noise 0.5, gain +-24 dB, L1 weight (6.4, 3.2 or 1.6) chosen by AG of changed validation clips",
        tuple(
            f"coloured noise 0.5, gain +-24 dB{l1}, checkpoint by AG of changed validation clips"
            for l1 in ("", ", L1 weight 3.2", ", L1 weight 1.6")
        ),
    ),
)


def slug(name):
    """A file name for a change: ``"L1 weight 3.2 (default 6.4)" -> "l1_weight_3_2_default_6_4"``."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def lmac_args(extra):
    """BASE_ARGS with ``extra``; an option given in both takes ``extra``'s value."""
    names = {option.split("=", 1)[0] for option in extra}
    return [
        *(a for a in BASE_ARGS if a.split("=", 1)[0] not in names),
        *extra,
    ]


def run_change(args, name, extra, seed):
    """The learning-curve report of one (change, seed) run, trained unless its JSON is in ``args.work``."""
    out = os.path.join(args.work, f"{slug(name)}_s{seed}.json")
    if not os.path.isfile(out):
        command = [
            sys.executable,
            os.path.join(ROOT, "benchmarks", "lmac_learning_curve.py"),
            f"--data={args.data}",
            f"--classifier={args.classifier}",
            f"--clip_seconds={args.clip_seconds}",
            "--clips_per_class=all",
            f"--threads={args.threads}",
            f"--work={os.path.join(args.work, f'{slug(name)}_s{seed}')}",
            f"--out={out}",
            *(
                f"--lmac_args={a}"
                for a in lmac_args(
                    [
                        f"--precision={args.precision}",
                        *extra,
                        *([f"--seed={seed}"] if seed != RECIPE_SEED else []),
                    ]
                )
            ),
        ]
        subprocess.run(command, check=True, capture_output=True, text=True)
    with open(out, encoding="utf-8") as handle:
        return json.load(handle)


class TopAreaMask:
    """A binary mask of the cells that ``ranked_by``'s mask scores highest, as many per row as ``area_of``'s mask
    sums to: two methods compared at the same area, so that neither gains from a larger or softer mask."""

    def __init__(self, area_of, ranked_by):
        self.area_of, self.ranked_by = area_of, ranked_by

    def __getattr__(
        self, name
    ):  # what the comparison asks of an explainer besides explain()
        return getattr(self.area_of, name)

    def explain(self, view):
        import torch

        area = self.area_of.explain(view).detach().flatten(1).sum(dim=1)
        scores = self.ranked_by.explain(view).detach().flatten(1)
        order = scores.argsort(dim=1, descending=True)
        ranks = torch.empty_like(order)
        ranks.scatter_(
            1, order, torch.arange(order.shape[1]).expand_as(order).contiguous()
        )
        keep = ranks < area.round().clamp_min(1).unsqueeze(1)
        return keep.to(view.magnitude.dtype).view_as(view.magnitude)


MATCHED_AREA_CHANGES = (
    "recipe defaults",
    "gain +-24 dB",
    "coloured noise 0.5, gain +-24 dB",
    "coloured noise 0.5, L1 weight 3.2",
    "coloured noise 0.5, gain +-24 dB, checkpoint by validation AG",
    "coloured noise 0.5, gain +-24 dB, L1 weight 3.2, checkpoint by AG of changed validation clips",
)


def matched_area_scores(args, run_folder):
    """``{condition: {"lmac": scores, "gradcam": scores}}``: L-MAC's and GradCAM's binary masks of L-MAC's area."""
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    from lmac_learning_curve import compare_runs

    def derived(explainers):
        lmac, gradcam = explainers["lmac"], explainers["gradcam"]
        return {
            "lmac_top_area": TopAreaMask(lmac, lmac),
            "gradcam_top_area": TopAreaMask(lmac, gradcam),
        }

    comparison = compare_runs(
        args.data,
        args.classifier,
        {"lmac": run_folder},
        args.clip_seconds,
        CONDITIONS,
        derived=derived,
    )
    return {
        condition: {
            "lmac": comparison[condition]["lmac_top_area"],
            "gradcam": comparison[condition]["gradcam_top_area"],
        }
        for condition in CONDITIONS
    }


def kept_checkpoint_value(args, name, seed, key="AG"):
    """The validation ``key`` (to maximise) of the checkpoint a (change, seed) run tested: the best of the
    checkpoints its save folder holds (the Checkpointer keeps the most recent one beside the best)."""
    import glob

    import yaml

    values = []
    for path in glob.glob(
        os.path.join(
            args.work,
            f"{slug(name)}_s{seed}",
            "lmac_all",
            "save",
            "CKPT*",
            "CKPT.yaml",
        )
    ):
        with open(path, encoding="utf-8") as handle:
            values.append(float(yaml.safe_load(handle)[key]))
    if not values:
        raise RuntimeError(f"{name}, seed {seed}: no checkpoint with {key}")
    return max(values)


def leads(lmac, gradcam):
    """``{AI, AD, AG: bool}``: L-MAC ahead of GradCAM (AI, AG higher, AD lower)."""
    return {
        "AI": lmac["AI"] > gradcam["AI"],
        "AD": lmac["AD"] < gradcam["AD"],
        "AG": lmac["AG"] > gradcam["AG"],
    }


def summarise(name, extra, reports):
    """One change's entry: its runs, their mean per condition and whether that mean leads GradCAM."""
    runs = []
    for report in reports:
        point = report["points"][0]
        runs.append(
            {
                "seed": int(
                    next(
                        (
                            a.split("=")[1]
                            for a in report["lmac_args"]
                            if a.startswith("--seed=")
                        ),
                        RECIPE_SEED,
                    )
                ),
                "train_clips": point["train_clips"],
                "train_seconds": point["train_seconds"],
                "epochs_run": point["epochs_run"],
                "lmac": point["lmac"],
            }
        )
    mean = {
        condition: {
            key: round(
                sum(run["lmac"][condition][key] for run in runs) / len(runs),
                2,
            )
            for key in METRICS
        }
        for condition in CONDITIONS
    }
    gradcam = reports[0]["gradcam"]
    return {
        "change": name,
        "lmac_args": list(extra),
        "runs": runs,
        "mean": mean,
        "leads_gradcam": {c: leads(mean[c], gradcam[c]) for c in CONDITIONS},
    }


def level_effects(
    data, classifier_folder, clip_seconds, scales=(1.0, 0.5, 0.3)
):
    """How level enters the benchmark, on the test clips of ``data``: their RMS level and that of their white-noise
    mixtures as the comparison makes them (dB full scale, means), and the classifier's mean probability of its
    decision when the clip's magnitude is scaled by each of ``scales``."""
    import tempfile

    import torch

    from interpretability.classifiers.io import load_classifier
    from interpretability.data.esc50 import prepare_esc50
    from interpretability.data.mixtures import ood_mixture
    from interpretability.data.pipelines import classification_datasets
    from interpretability.spectral import magnitude_phase

    classifier, _ = load_classifier(
        os.path.join(classifier_folder, "classifier")
    )
    classifier = classifier.eval()
    with tempfile.TemporaryDirectory() as save:
        manifests = prepare_esc50(data, save)
        test = classification_datasets(manifests, clip_seconds)["test"]
        wavs = torch.stack([test[i]["sig"] for i in range(len(test))])
    mixture = ood_mixture(
        wavs, "white_noise", generator=torch.Generator().manual_seed(0)
    )

    def decibels(x):
        return float((20 * torch.log10(x.pow(2).mean(dim=1).sqrt())).mean())

    with torch.no_grad():
        magnitude = magnitude_phase(wavs)[0]
        probabilities = classifier.probabilities(classifier(magnitude))
        decision = probabilities.argmax(dim=1, keepdim=True)
        kept = {
            str(scale): round(
                float(
                    classifier.probabilities(classifier(magnitude * scale))
                    .gather(1, decision)
                    .mean()
                ),
                3,
            )
            for scale in scales
        }
    return {
        "clip_rms_dbfs": round(decibels(wavs), 1),
        "white_noise_mixture_rms_dbfs": round(decibels(mixture), 1),
        "decision_probability_at_magnitude_scale": kept,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", required=True, help="the hard set (ESC-50 layout)"
    )
    parser.add_argument(
        "--classifier",
        required=True,
        help="train_classifier.py's output folder",
    )
    parser.add_argument("--clip_seconds", type=float, default=2.0)
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[1986, 1987, 1988],
        help="the seeds a change is trained with (the first n of them for a change of n runs)",
    )
    parser.add_argument(
        "--changes",
        nargs="+",
        help="names of CHANGES to run (default: all)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--precision",
        default="bf16",
        help="training precision of the decoders (bf16 where the CPU computes it natively, else fp32)",
    )
    parser.add_argument("--work", required=True, help="folder of the runs")
    parser.add_argument("--out", required=True, help="JSON file written")
    args = parser.parse_args(argv)
    sys.path.insert(0, ROOT)
    from interpretability.results import atomic_write_json
    from interpretability.runtime import cpu_model

    os.makedirs(args.work, exist_ok=True)
    changes = [
        (name, extra, args.seeds[:n_seeds])
        for name, extra, n_seeds in CHANGES
        if not args.changes or name in args.changes
    ]
    metrics_file = os.path.join(args.classifier, "test_metrics.json")
    with open(metrics_file, encoding="utf-8") as handle:
        classifier_metrics = json.load(handle)
    report = {
        "data": os.path.relpath(args.data, ROOT),
        "classifier": os.path.relpath(args.classifier, ROOT),
        "classifier_acc": round(float(classifier_metrics["acc"]), 3),
        "classifier_mean_confidence": round(
            float(classifier_metrics["mean_confidence"]), 3
        ),
        "level": level_effects(args.data, args.classifier, args.clip_seconds),
        "base_args": lmac_args([f"--precision={args.precision}"]),
        "machine": f"{cpu_model()}, {os.cpu_count()} CPUs",
        "seeds": args.seeds,
        "conditions": list(CONDITIONS),
        "changes": [],
    }
    for name, extra, seeds in changes:
        reports = [run_change(args, name, extra, seed) for seed in seeds]
        gradcams = {json.dumps(r["gradcam"], sort_keys=True) for r in reports}
        if len(gradcams) != 1 or (
            "gradcam" in report
            and json.dumps(report["gradcam"], sort_keys=True) not in gradcams
        ):
            raise RuntimeError(
                f"{name}: GradCAM's scores differ between runs: not the same clips or classifier"
            )
        report["gradcam"] = reports[0]["gradcam"]
        report["test_rows"] = reports[0]["gradcam"]["in_domain"]["n_rows"]
        entry = summarise(name, extra, reports)
        if name in MATCHED_AREA_CHANGES:
            runs = [
                matched_area_scores(
                    args,
                    os.path.join(
                        args.work, f"{slug(name)}_s{seed}", "lmac_all"
                    ),
                )
                for seed in seeds
            ]
            entry["matched_area"] = {
                "runs": runs,
                "mean": {
                    c: {
                        method: {
                            key: round(
                                sum(r[c][method][key] for r in runs)
                                / len(runs),
                                2,
                            )
                            for key in METRICS
                        }
                        for method in ("lmac", "gradcam")
                    }
                    for c in CONDITIONS
                },
            }
        report["changes"].append(entry)
        atomic_write_json(args.out, report)
        print(name, json.dumps(report["changes"][-1]["mean"]), flush=True)
    done = {entry["change"]: entry for entry in report["changes"]}
    for name, candidates in SELECTIONS:
        if not all(c in done for c in candidates):
            continue
        seeds = [run["seed"] for run in done[candidates[0]]["runs"]]
        chosen, reports = [], []
        for seed in seeds:
            values = {
                c: kept_checkpoint_value(args, c, seed) for c in candidates
            }
            best = max(candidates, key=values.get)
            chosen.append({"seed": seed, "chosen": best, "valid_AG": values})
            reports.append(run_change(args, best, (), seed))
        entry = summarise(name, (), reports)
        entry["chosen"] = chosen
        for run in entry["runs"]:  # the choice costs every candidate's training
            run["train_seconds"] = sum(
                r["train_seconds"]
                for c in candidates
                for r in done[c]["runs"]
                if r["seed"] == run["seed"]
            )
        report["changes"].append(entry)
        atomic_write_json(args.out, report)
        print(name, json.dumps(entry["mean"]), flush=True)


if __name__ == "__main__":
    main()
