#!/usr/bin/env python3
"""Train a sound classifier on UrbanSound8K with its predefined folds (never reshuffled).

    python train_classifier.py hparams/classifier_cnn6.yaml --data_folder /path/to/UrbanSound8K --test_fold 10

The authors' protocol is 10-fold cross-validation: run once per ``--test_fold`` (1..10) into separate output
folders, then ``python summarize_folds.py results/classifier_cnn6/1986/fold*`` for per-fold and mean +- std.
Writes ``<output_folder>/test_metrics.json`` (``acc``) and exports the best checkpoint to
``<output_folder>/classifier/``.
"""

import sys

from interpretability.brains.training import train_classifier
from interpretability.data.us8k import prepare_us8k
from interpretability.recipe import load_recipe, prepare_data, run_recipe


def main(argv):
    hparams, run_opts = load_recipe(argv)
    manifests = prepare_data(prepare_us8k, hparams, ("test_fold", "valid_fold"))
    train_classifier(hparams, run_opts, manifests)


if __name__ == "__main__":
    run_recipe(main, sys.argv[1:])
