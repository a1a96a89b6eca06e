#!/usr/bin/env python3
"""Train a multi-label urban sound tagger on SONYC-UST (v2.3, or v1) with the 8 coarse classes.

    python train_classifier.py hparams/classifier_cnn6.yaml --data_folder /path/to/sonyc-ust

Targets follow the official 2020 baseline (train: any volunteer marked the class present; validate / test: the
verified ``annotator_id == 0`` row; unannotated classes are masked out of the loss). Writes
``<output_folder>/test_metrics.json`` with the DCASE task 5 ``micro_auprc``, ``macro_auprc`` and ``micro_f1``
and exports the best checkpoint (by validation macro AUPRC) to ``<output_folder>/classifier/``.
"""

import sys

from interpretability.brains.training import train_classifier
from interpretability.data.sonyc_ust import prepare_sonyc_ust
from interpretability.recipe import load_recipe, prepare_data, run_recipe


def main(argv):
    hparams, run_opts = load_recipe(argv)
    manifests = prepare_data(
        prepare_sonyc_ust, hparams, ("train_split", "valid_split", "test_split")
    )
    train_classifier(hparams, run_opts, manifests)


if __name__ == "__main__":
    run_recipe(main, sys.argv[1:])
