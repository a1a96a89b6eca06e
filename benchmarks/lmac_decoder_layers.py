#!/usr/bin/env python3
"""Which hidden maps should the L-MAC decoder read? Faithfulness against dependence on the classifier.

For each set of layers: an L-MAC decoder is trained on the classifier (``epochs``), scored on the test split (AI,
AD, AG, Fid-In, mask mean, SI-SDR gain, area-matched IoU), and the sanity check by retraining is run on the first
``sanity_clips`` test clips: a decoder trained again on the same classifier with another seed (the control), one
trained on the classifier with every layer re-initialised (model randomisation) and one trained on a classifier of
the same architecture trained on shuffled labels (data randomisation; ``--shuffled_epochs``, trained once and shared
by every row); each row gives the rank correlation of their masks with the first decoder's.

    python benchmarks/lmac_decoder_layers.py --data results/demo/synthetic --classifier results/demo/classifier \\
        --layers conv_block1+conv_block2+conv_block3+conv_block4 conv_block2+conv_block3+conv_block4 \\
        conv_block3+conv_block4 conv_block4 --out docs/experiments/lmac_decoder_layers.json

Writes a JSON list, one entry per layer set (the ESC-50 README's table is generated from it).
"""

import argparse
import json
import logging
import os
import sys
import time

import torch
from experiment_args import add_demo_run_arguments

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def measure(
    layers, classifier, datasets, views, randomised, shuffled, epochs, seed
):
    from interpretability.brains.interpreter import explanation_metrics
    from interpretability.brains.training import layer_channels
    from interpretability.evaluation.explainers import TrainedExplainer
    from interpretability.evaluation.retraining import (
        _correlation,
        train_interpreter,
    )
    from interpretability.evaluation.sanity import rebind_view
    from interpretability.interpreters.lmac import LMACDecoder
    from interpretability.metrics.stats import MetricCollector

    started = time.time()
    clip_seconds = views["clip_seconds"]
    channels = layer_channels(classifier, clip_seconds, layers)
    description = {
        "method": "lmac",
        "decoder": LMACDecoder(channels).config,
        "training": {"epochs": epochs},
    }
    decoder = TrainedExplainer(
        train_interpreter(
            "lmac", description, None, classifier, datasets["train"], seed
        )
    )
    collector = MetricCollector()
    for index, view in enumerate(views["test"]):
        metrics = explanation_metrics(classifier, view, decoder.explain(view))
        collector.append(
            [f"{index}:{row}" for row in range(len(view.decision))],
            {k: v.cpu() for k, v in metrics.items()},
        )
    scores = collector.summarize()
    sanity = views["sanity"]
    originals = [decoder.explain(view) for view in sanity]
    control = TrainedExplainer(
        train_interpreter(
            "lmac", description, None, classifier, datasets["train"], seed + 1
        )
    )
    random = TrainedExplainer(
        train_interpreter(
            "lmac", description, None, randomised, datasets["train"], seed + 2
        )
    )
    on_shuffled = TrainedExplainer(
        train_interpreter(
            "lmac", description, None, shuffled, datasets["train"], seed + 3
        )
    )
    entry = {
        "layers": list(layers),
        "epochs": epochs,
        "params": sum(p.numel() for p in decoder.interpreter.parameters()),
    }
    entry.update(
        {
            k: round(float(scores[k]), 4)
            for k in (
                "AI",
                "AD",
                "AG",
                "FidIn",
                "MM",
                "SISDR_gain",
                "IoU",
                "IoU_at_0.5",
            )
        }
    )
    entry["retrain_control"] = round(
        _correlation(originals, control, sanity), 4
    )
    entry["model_randomisation"] = round(
        _correlation(
            originals, random, [rebind_view(v, randomised) for v in sanity]
        ),
        4,
    )
    entry["data_randomisation"] = round(
        _correlation(
            originals, on_shuffled, [rebind_view(v, shuffled) for v in sanity]
        ),
        4,
    )
    entry["seconds"] = round(time.time() - started)
    return entry


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_demo_run_arguments(parser)
    parser.add_argument(
        "--layers",
        nargs="+",
        required=True,
        help="layer sets, names joined by '+'",
    )
    parser.add_argument("--clip_seconds", type=float, default=2.0)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--sanity_clips", type=int, default=16)
    parser.add_argument(
        "--shuffled_epochs",
        type=int,
        default=10,
        help="epochs of the shuffled-label classifier",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", required=True, help="JSON file written")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)

    from interpretability.brains.interpreter import ClipView
    from interpretability.classifiers.io import load_classifier
    from interpretability.data.esc50 import prepare_esc50
    from interpretability.data.pipelines import classification_datasets
    from interpretability.evaluation.retraining import train_shuffled_classifier
    from interpretability.evaluation.sanity import randomised_classifiers
    from interpretability.results import atomic_write_json

    manifests = prepare_esc50(
        args.data,
        os.path.join(os.path.dirname(os.path.abspath(args.out)), "save_layers"),
        train_folds=[1, 2, 3],
        valid_folds=[4],
        test_folds=[5],
    )
    source = args.classifier
    if os.path.isdir(os.path.join(source, "classifier")):
        source = os.path.join(source, "classifier")
    classifier, _ = load_classifier(source)
    classifier.requires_grad_(False)
    datasets = classification_datasets(manifests, args.clip_seconds)
    items = [datasets["test"][i] for i in range(len(datasets["test"]))]
    wavs = torch.stack([item["sig"] for item in items])
    clean = torch.stack([item["clean_sig"] for item in items])
    test_views = [
        ClipView(wavs[i : i + 16], classifier, clean[i : i + 16])
        for i in range(0, len(wavs), 16)
    ]
    views = {
        "test": test_views,
        "sanity": [ClipView(wavs[: args.sanity_clips], classifier)],
        "clip_seconds": args.clip_seconds,
    }
    *_, (_, randomised) = randomised_classifiers(classifier, None, args.seed)
    work = os.path.join(
        os.path.dirname(os.path.abspath(args.out)), "save_layers"
    )
    shuffled = train_shuffled_classifier(
        classifier,
        manifests,
        args.clip_seconds,
        work,
        args.shuffled_epochs,
        args.seed,
    )
    results = []
    for layers in args.layers:
        results.append(
            measure(
                layers.split("+"),
                classifier,
                datasets,
                views,
                randomised,
                shuffled,
                args.epochs,
                args.seed,
            )
        )
        print(json.dumps(results[-1]), flush=True)
        atomic_write_json(args.out, results)


if __name__ == "__main__":
    main()
