#!/usr/bin/env python3
"""Compare every explanation method on SONYC-UST, one row per (clip, class the classifier marks present).

    python evaluate.py hparams/evaluate_cnn6.yaml --data_folder DIR --pretrained_classifier CLASSIFIER_DIR \
        --pretrained_interpreter LMAC_DIR [--pretrained_lmac_ft DIR] [--pretrained_l2i DIR] [--speech_folder WAVS]

Multi-label metrics are on each row's sigmoid score; protocol and outputs: ``interpretability/evaluation/``.
"""

import sys

from interpretability.data.sonyc_ust import prepare_sonyc_ust
from interpretability.evaluation.comparison import run_comparison
from interpretability.recipe import load_recipe, prepare_data, run_recipe


def main(argv):
    hparams, run_opts = load_recipe(argv)
    manifests = prepare_data(
        prepare_sonyc_ust, hparams, ("train_split", "valid_split", "test_split")
    )
    run_comparison(hparams, manifests, run_opts)


if __name__ == "__main__":
    run_recipe(main, sys.argv[1:])
