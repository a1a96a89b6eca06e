#!/usr/bin/env python3
"""Learn L2I's sparse NMF dictionary on UrbanSound8K's training folds (one dictionary per test fold).

    python train_nmf.py hparams/nmf.yaml --data_folder DIR --test_fold 10

Outputs as for ESC-50 (``recipes/ESC50/README.md``, section L2I).
"""

import sys

from interpretability.brains.l2i import train_nmf
from interpretability.data.us8k import prepare_us8k
from interpretability.recipe import load_recipe, prepare_data, run_recipe


def main(argv):
    hparams, run_opts = load_recipe(argv)
    manifests = prepare_data(prepare_us8k, hparams, ("test_fold", "valid_fold"))
    train_nmf(hparams, run_opts, manifests)


if __name__ == "__main__":
    run_recipe(main, sys.argv[1:])
