#!/usr/bin/env python3
"""Train a multi-label urban sound tagger on SONYC-UST (v2.3, or v1) with the 8 coarse classes.

    python train_classifier.py hparams/classifier_cnn6.yaml --data_folder /path/to/sonyc-ust

Targets follow the official 2020 baseline (train: any volunteer marked the class present; validate / test: the
verified ``annotator_id == 0`` row; unannotated classes are masked out of the loss). Writes
``<output_folder>/test_metrics.json`` with the DCASE task 5 ``micro_auprc``, ``macro_auprc`` and ``micro_f1``
and exports the best checkpoint (by validation macro AUPRC) to ``<output_folder>/classifier/``.
"""
import sys

from speechbrain.utils.distributed import run_on_main

from interpretability.brains.training import train_classifier
from interpretability.data.sonyc_ust import prepare_sonyc_ust
from interpretability.recipe import load_recipe, run_recipe


def main(argv):
    hparams, run_opts = load_recipe(argv)
    prepare_kwargs = dict(
        data_folder=hparams["data_folder"],
        save_folder=hparams["save_folder"],
        train_split=hparams["train_split"],
        valid_split=hparams["valid_split"],
        test_split=hparams["test_split"],
        skip_prep=hparams["skip_prep"],
        check_audio=hparams["check_audio"],
    )
    run_on_main(prepare_sonyc_ust, kwargs=prepare_kwargs)
    manifests = prepare_sonyc_ust(**{**prepare_kwargs, "skip_prep": True})
    train_classifier(hparams, run_opts, manifests)


if __name__ == "__main__":
    run_recipe(main, sys.argv[1:])
