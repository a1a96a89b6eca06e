#!/usr/bin/env python3
"""Compare every explanation method on the ESC-50 test folds (or the synthetic set in the ESC-50 layout).

    python evaluate.py hparams/evaluate_cnn6.yaml --data_folder DIR --pretrained_classifier CLASSIFIER_DIR \
        --pretrained_interpreter LMAC_DIR [--pretrained_lmac_ft DIR] [--pretrained_l2i DIR] [--speech_folder WAVS]

Methods, conditions and output files: ``interpretability/evaluation/comparison.py`` and the README.
"""

import sys

from interpretability.data.esc50 import prepare_esc50
from interpretability.evaluation.comparison import run_comparison
from interpretability.recipe import load_recipe, prepare_data, run_recipe


def main(argv):
    hparams, run_opts = load_recipe(argv)
    manifests = prepare_data(
        prepare_esc50, hparams, ("train_folds", "valid_folds", "test_folds")
    )
    run_comparison(hparams, manifests, run_opts)


if __name__ == "__main__":
    run_recipe(main, sys.argv[1:])
