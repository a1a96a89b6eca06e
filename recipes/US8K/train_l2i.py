#!/usr/bin/env python3
"""Train L2I (Listen to Interpret) on UrbanSound8K: one run per test fold, explaining the classifier of that fold.

    python train_nmf.py hparams/nmf.yaml --data_folder DIR --test_fold 10
    python train_l2i.py hparams/l2i_cnn6.yaml --data_folder DIR --test_fold 10 \
        --pretrained_classifier results/classifier_cnn6/1986/fold10/classifier \
        --nmf_dictionary results/nmf/1986/fold10/nmf

Outputs and metrics as for ESC-50 (``recipes/ESC50/README.md``, section L2I).
"""

import sys

from interpretability.brains.l2i import train_l2i
from interpretability.data.us8k import prepare_us8k
from interpretability.recipe import load_recipe, prepare_data, run_recipe


def main(argv):
    hparams, run_opts = load_recipe(argv)
    manifests = prepare_data(prepare_us8k, hparams, ("test_fold", "valid_fold"))
    train_l2i(hparams, run_opts, manifests)


if __name__ == "__main__":
    run_recipe(main, sys.argv[1:])
