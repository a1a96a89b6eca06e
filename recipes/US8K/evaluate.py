#!/usr/bin/env python3
"""Compare every explanation method on one UrbanSound8K test fold (``--test_fold``; one run per fold).

    python evaluate.py hparams/evaluate_cnn6.yaml --data_folder DIR --test_fold 10 --pretrained_classifier CLF_DIR \
        --pretrained_interpreter LMAC_DIR [--pretrained_lmac_ft DIR] [--pretrained_l2i DIR] [--speech_folder WAVS]

See ``interpretability/evaluation/comparison.py`` and the README for the methods, conditions and outputs.
"""

import sys

from interpretability.data.us8k import prepare_us8k
from interpretability.evaluation.comparison import run_comparison
from interpretability.recipe import load_recipe, prepare_data, run_recipe


def main(argv):
    hparams, run_opts = load_recipe(argv)
    manifests = prepare_data(prepare_us8k, hparams, ("test_fold", "valid_fold"))
    run_comparison(hparams, manifests, run_opts)


if __name__ == "__main__":
    run_recipe(main, sys.argv[1:])
