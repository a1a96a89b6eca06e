#!/usr/bin/env python3
"""Per-fold results and mean +- std over UrbanSound8K test folds.

    python summarize_folds.py results/classifier_cnn6/1986/fold* [--metrics_file test_metrics.json]

Writes ``folds_summary.json`` beside the fold folders and prints a table.
"""

import argparse
import os
import sys

from interpretability.errors import InputError
from interpretability.results import atomic_write_json, summarize_runs


def main(argv):
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("fold_folders", nargs="+")
    parser.add_argument("--metrics_file", default="test_metrics.json")
    args = parser.parse_args(argv)
    files = [
        os.path.join(folder, args.metrics_file) for folder in args.fold_folders
    ]
    missing = [f for f in files if not os.path.isfile(f)]
    if missing:
        raise InputError(
            f"{missing[0]}: metrics file not found (did that fold's run finish?)"
        )
    summary = summarize_runs(files)
    out = os.path.join(
        os.path.dirname(os.path.abspath(args.fold_folders[0])),
        "folds_summary.json",
    )
    atomic_write_json(out, summary)
    for key, stats in summary.items():
        runs = "  ".join(f"{v:.4f}" for v in stats["runs"].values())
        print(
            f"{key:>12}: {stats['mean']:.4f} +- {stats['std']:.4f}   per fold: {runs}"
        )
    print(f"written to {out}")


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except InputError as err:
        sys.exit(f"error: {err}")
