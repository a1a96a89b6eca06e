#!/usr/bin/env python3
"""Train an L-MAC decoder (or fine-tune one: L-MAC FT) that explains a trained classifier on UrbanSound8K (choose the test fold; one run per fold).

    python train_lmac.py hparams/lmac_cnn6.yaml --data_folder DIR --pretrained_classifier CLASSIFIER_DIR
    python train_lmac.py hparams/lmac_cnn6_ft.yaml --data_folder DIR --pretrained_classifier CLASSIFIER_DIR \
        --pretrained_interpreter LMAC_OUTPUT_DIR

Writes ``<output_folder>/test_metrics.json`` (AI, AD, AG, FF, FF_median, FidIn, SPS, COMP, MM, params and, with
ground truth, SISDR, SISDR_input, IoU), listenable explanations in ``<output_folder>/explanations/`` and the
trained interpreter in ``<output_folder>/interpreter/`` (for ``python -m interpretability.explain``).
"""

import sys

from interpretability.brains.training import train_lmac
from interpretability.data.us8k import prepare_us8k
from interpretability.recipe import load_recipe, prepare_data, run_recipe


def main(argv):
    hparams, run_opts = load_recipe(argv)
    manifests = prepare_data(prepare_us8k, hparams, ("test_fold", "valid_fold"))
    train_lmac(hparams, run_opts, manifests)


if __name__ == "__main__":
    run_recipe(main, sys.argv[1:])
