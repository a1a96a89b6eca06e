#!/usr/bin/env python3
"""Train a sound classifier on ESC-50 (or on the synthetic set, written in the ESC-50 layout).

    python train_classifier.py hparams/classifier_cnn6.yaml --data_folder /path/to/ESC-50-master
    torchrun --nproc_per_node=4 train_classifier.py hparams/classifier_cnn14.yaml --data_folder ...

Writes ``<output_folder>/test_metrics.json`` (``acc``) and exports the best checkpoint to
``<output_folder>/classifier/``, the folder the interpretation recipes take as ``--pretrained_classifier``.
"""

import sys

from interpretability.brains.training import train_classifier
from interpretability.data.esc50 import prepare_esc50
from interpretability.recipe import load_recipe, prepare_data, run_recipe


def main(argv):
    hparams, run_opts = load_recipe(argv)
    manifests = prepare_data(
        prepare_esc50, hparams, ("train_folds", "valid_folds", "test_folds")
    )
    train_classifier(hparams, run_opts, manifests)


if __name__ == "__main__":
    run_recipe(main, sys.argv[1:])
