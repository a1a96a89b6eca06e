"""Build the static HTML report of finished runs.

    python -m interpretability.report results/demo                 # -> results/demo/report/index.html
    python -m interpretability.report results/lmac_cnn6/1986 --out my_report --clips_per_class 1

RESULTS_DIR is the demo's folder of runs or the output folder of one recipe run; every part is optional.
"""

import argparse
import logging
import sys

from interpretability.errors import InputError
from interpretability.interpreters.gradient import BASELINES
from interpretability.report.listening import ListeningOptions
from interpretability.report.neurons import NeuronOptions


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "results_dir",
        help="the demo's results folder or one recipe run's output folder",
    )
    parser.add_argument(
        "--out", default=None, help="report folder (default RESULTS_DIR/report)"
    )
    parser.add_argument("--title", default=None)
    parser.add_argument(
        "--no_listening",
        action="store_true",
        help="tables and pictures only, no model runs",
    )
    parser.add_argument("--clips_per_class", type=int, default=2)
    parser.add_argument(
        "--ood_clips",
        type=int,
        default=2,
        help="clips per out-of-domain condition",
    )
    parser.add_argument(
        "--methods",
        nargs="*",
        default=list(BASELINES),
        help="gradient baselines in the cards",
    )
    parser.add_argument("--ig_steps", type=int, default=8)
    parser.add_argument("--smoothgrad_samples", type=int, default=4)
    parser.add_argument("--shap_samples", type=int, default=4)
    parser.add_argument(
        "--hidden_neurons",
        type=int,
        default=6,
        help="AND cards of the last hidden layer",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    from interpretability.report.site import write_report

    options = ListeningOptions(
        clips_per_class=args.clips_per_class,
        ood_clips=args.ood_clips,
        methods=tuple(args.methods),
        ig_steps=args.ig_steps,
        smoothgrad_samples=args.smoothgrad_samples,
        shap_samples=args.shap_samples,
        seed=args.seed,
        device=args.device,
    )
    try:
        path = write_report(
            args.results_dir,
            args.out,
            listening=not args.no_listening,
            listening_options=options,
            neuron_options=NeuronOptions(hidden_neurons=args.hidden_neurons),
            title=args.title,
        )
    except InputError as err:
        sys.stderr.write(f"error: {err}\n")
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
