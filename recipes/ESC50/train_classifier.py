#!/usr/bin/env python3
"""Train a sound classifier on ESC-50 (or on the synthetic set, written in the ESC-50 layout).

    python train_classifier.py hparams/classifier_cnn6.yaml --data_folder /path/to/ESC-50-master
    torchrun --nproc_per_node=4 train_classifier.py hparams/classifier_cnn14.yaml --data_folder ...

Writes ``<output_folder>/test_metrics.json`` (``acc``) and exports the best checkpoint to
``<output_folder>/classifier/``, the folder the interpretation recipes take as ``--pretrained_classifier``.
"""
import sys

from speechbrain.utils.distributed import run_on_main

from interpretability.brains.training import train_classifier
from interpretability.data.esc50 import prepare_esc50
from interpretability.recipe import load_recipe, run_recipe


def main(argv):
    hparams, run_opts = load_recipe(argv)
    prepare_kwargs = dict(
        data_folder=hparams["data_folder"],
        save_folder=hparams["save_folder"],
        train_folds=hparams["train_folds"],
        valid_folds=hparams["valid_folds"],
        test_folds=hparams["test_folds"],
        skip_prep=hparams["skip_prep"],
        check_audio=hparams["check_audio"],
    )
    run_on_main(prepare_esc50, kwargs=prepare_kwargs)
    manifests = prepare_esc50(**{**prepare_kwargs, "skip_prep": True})
    train_classifier(hparams, run_opts, manifests)


if __name__ == "__main__":
    run_recipe(main, sys.argv[1:])
