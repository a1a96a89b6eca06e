#!/usr/bin/env python3
"""Train an L-MAC decoder (or fine-tune one: L-MAC FT) that explains a trained classifier on SONYC-UST, multi-label: one mask per (clip, class
the classifier marks present), with sigmoid / BCE versions of the mask-in and mask-out terms.

    python train_lmac.py hparams/lmac_cnn6.yaml --data_folder DIR --pretrained_classifier CLASSIFIER_DIR
    python train_lmac.py hparams/lmac_cnn6_ft.yaml --data_folder DIR --pretrained_classifier CLASSIFIER_DIR \
        --pretrained_interpreter LMAC_OUTPUT_DIR

Writes ``<output_folder>/test_metrics.json`` (AI, AD, AG, FF, FF_median, FidIn, SPS, COMP, MM, params, averaged
over (clip, present class) rows), listenable explanations in ``<output_folder>/explanations/`` and the
trained interpreter in ``<output_folder>/interpreter/`` (for ``python -m interpretability.explain``).
"""

import sys

from interpretability.brains.training import train_lmac
from interpretability.data.sonyc_ust import prepare_sonyc_ust
from interpretability.recipe import load_recipe, prepare_data, run_recipe


def main(argv):
    hparams, run_opts = load_recipe(argv)
    manifests = prepare_data(
        prepare_sonyc_ust, hparams, ("train_split", "valid_split", "test_split")
    )
    train_lmac(hparams, run_opts, manifests)


if __name__ == "__main__":
    run_recipe(main, sys.argv[1:])
