#!/usr/bin/env python3
"""Learn L2I's sparse NMF dictionary (K = 80) on SONYC-UST's train split.

    python train_nmf.py hparams/nmf.yaml --data_folder DIR

Outputs as for ESC-50 (``recipes/ESC50/README.md``, section L2I).
"""

import sys

from interpretability.brains.l2i import train_nmf
from interpretability.data.sonyc_ust import prepare_sonyc_ust
from interpretability.recipe import load_recipe, prepare_data, run_recipe


def main(argv):
    hparams, run_opts = load_recipe(argv)
    manifests = prepare_data(
        prepare_sonyc_ust, hparams, ("train_split", "valid_split", "test_split")
    )
    train_nmf(hparams, run_opts, manifests)


if __name__ == "__main__":
    run_recipe(main, sys.argv[1:])
