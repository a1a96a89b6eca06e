#!/usr/bin/env python3
"""Train L2I (Listen to Interpret) on a trained classifier and an NMF dictionary, on SONYC-UST, multi-label: Theta has
a sigmoid per class, trained with element-wise BCE against the classifier's sigmoids, and each (clip, class the
classifier marks present) is explained by its own components.

    python train_nmf.py hparams/nmf.yaml --data_folder DIR
    python train_l2i.py hparams/l2i_cnn6.yaml --data_folder DIR --pretrained_classifier CLASSIFIER_DIR \
        --nmf_dictionary NMF_OUTPUT_DIR/nmf

Without ``--nmf_dictionary`` the dictionary is learned first, with this file's ``nmf*`` hparams, into
``<output_folder>/nmf/``. Writes ``<output_folder>/test_metrics.json`` (the shared AI, AD, AG, FF, FF_median,
FidIn, SPS, COMP, MM, params, averaged over (clip, present class) rows; L2I's fidelity_macro_auprc,
fidelity_micro_auprc and fidelity_max_f1 (Theta's sigmoids against the classifier's decisions at 0.5), FF_random
and FF_median_random: FF / FF_median are the drop of the classifier's score when the selected components are
removed, FF_random / FF_median_random when as many random other components are), listenable explanations and one
wav per selected component (``<id>_component<k>.wav``) in ``<output_folder>/explanations/`` and the trained
interpreter in ``<output_folder>/interpreter/``.
"""

import sys

from interpretability.brains.l2i import train_l2i
from interpretability.data.sonyc_ust import prepare_sonyc_ust
from interpretability.recipe import load_recipe, prepare_data, run_recipe


def main(argv):
    hparams, run_opts = load_recipe(argv)
    manifests = prepare_data(
        prepare_sonyc_ust, hparams, ("train_split", "valid_split", "test_split")
    )
    train_l2i(hparams, run_opts, manifests)


if __name__ == "__main__":
    run_recipe(main, sys.argv[1:])
