#!/usr/bin/env python3
"""AND (Audio Network Dissection; Wu, Lin, Weng, ICML 2024) of a classifier on ESC-50 (or on the synthetic set,
written in the ESC-50 layout).

    python dissect_and.py hparams/and_cnn6.yaml --data_folder DIR --pretrained_classifier CLASSIFIER_DIR
    python dissect_and.py hparams/and_ast.yaml --data_folder DIR \
        --pretrained_classifier MIT/ast-finetuned-audioset-10-10-0.4593
    torchrun --nproc_per_node=4 dissect_and.py hparams/and_cnn14.yaml --data_folder DIR --pretrained_classifier ...

Every stage writes its file in ``<output_folder>`` and is skipped when it is there, so a killed run restarted with
the same command finishes without redoing work (see ``interpretability/dissection/pipeline.py``). Writes
``neurons_<layer>.json`` (per neuron: top / bottom clips, descriptions, summaries, calibrated summary, open and
closed concepts) and ``test_metrics.json`` (last-layer top-1 / top-5 accuracy per method, concept-specific
pruning against a random control, share of uninterpretable neurons per layer).
"""

import sys

from interpretability.data.esc50 import prepare_esc50
from interpretability.dissection.pipeline import run_dissection
from interpretability.recipe import load_recipe, prepare_data, run_recipe


def main(argv):
    hparams, run_opts = load_recipe(argv)
    manifests = prepare_data(
        prepare_esc50, hparams, ("train_folds", "valid_folds", "test_folds")
    )
    run_dissection(hparams, run_opts, manifests)


if __name__ == "__main__":
    run_recipe(main, sys.argv[1:])
