#!/usr/bin/env python3
"""Train a sound classifier on UrbanSound8K with its predefined folds (never reshuffled).

    python train_classifier.py hparams/classifier_cnn6.yaml --data_folder /path/to/UrbanSound8K --test_fold 10

The authors' protocol is 10-fold cross-validation: run once per ``--test_fold`` (1..10) into separate output
folders, then ``python summarize_folds.py results/classifier_cnn6/1986/fold*`` for per-fold and mean +- std.
Writes ``<output_folder>/test_metrics.json`` (``acc``) and exports the best checkpoint to
``<output_folder>/classifier/``.
"""
import sys

from speechbrain.utils.distributed import run_on_main

from interpretability.brains.training import train_classifier
from interpretability.data.us8k import prepare_us8k
from interpretability.recipe import load_recipe, run_recipe


def main(argv):
    hparams, run_opts = load_recipe(argv)
    prepare_kwargs = dict(
        data_folder=hparams["data_folder"],
        save_folder=hparams["save_folder"],
        test_fold=hparams["test_fold"],
        valid_fold=hparams["valid_fold"],
        skip_prep=hparams["skip_prep"],
        check_audio=hparams["check_audio"],
    )
    run_on_main(prepare_us8k, kwargs=prepare_kwargs)
    manifests = prepare_us8k(**{**prepare_kwargs, "skip_prep": True})
    train_classifier(hparams, run_opts, manifests)


if __name__ == "__main__":
    run_recipe(main, sys.argv[1:])
