#!/usr/bin/env python3
"""AND (Audio Network Dissection; Wu, Lin, Weng, ICML 2024) of a classifier on
UrbanSound8K (one run per test fold).

    python dissect_and.py hparams/and_cnn6.yaml --data_folder DIR --pretrained_classifier CLASSIFIER_DIR --test_fold 10

Stages, resumption, outputs and the CNN14 / AST variants are as in ``recipes/ESC50/dissect_and.py``.
"""

import sys

from interpretability.data.us8k import prepare_us8k
from interpretability.dissection.pipeline import run_dissection
from interpretability.recipe import load_recipe, prepare_data, run_recipe


def main(argv):
    hparams, run_opts = load_recipe(argv)
    manifests = prepare_data(prepare_us8k, hparams, ("test_fold", "valid_fold"))
    run_dissection(hparams, run_opts, manifests)


if __name__ == "__main__":
    run_recipe(main, sys.argv[1:])
