#!/usr/bin/env python3
"""Learn the sparse NMF dictionary L2I explains with, on ESC-50's training folds (or the synthetic set, written in the
ESC-50 layout), streaming over the frames.

    python train_nmf.py hparams/nmf.yaml --data_folder DIR

Writes ``<output_folder>/nmf/`` (``dictionary.pt``: W [513, K], ``hyperparams.yaml``), the folder ``train_l2i.py
--nmf_dictionary`` reads, and ``<output_folder>/test_metrics.json`` (relative reconstruction error, objective and
code density on the test split, against the dictionary's initialisation).
"""

import sys

from interpretability.brains.l2i import train_nmf
from interpretability.data.esc50 import prepare_esc50
from interpretability.recipe import load_recipe, prepare_data, run_recipe


def main(argv):
    hparams, run_opts = load_recipe(argv)
    manifests = prepare_data(
        prepare_esc50, hparams, ("train_folds", "valid_folds", "test_folds")
    )
    train_nmf(hparams, run_opts, manifests)


if __name__ == "__main__":
    run_recipe(main, sys.argv[1:])
