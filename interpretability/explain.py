"""Explain audio files with a trained interpreter from the command line.

    python -m interpretability.explain --interpreter results/lmac_cnn6/1986 clip.wav [more.wav ...] --out explained/

The interpreter folder is the output of ``train_lmac.py`` (L-MAC, L-MAC FT) or ``train_l2i.py`` (L2I).

For each file writes ``<name>_input.wav`` (16 kHz mono, what the classifier heard), ``<name>_explanation.wav``
(the listenable explanation, same length) and ``<name>.png``, and prints the classifier's decision. Files of any
length: a file shorter than the classifier's clip length is padded for the classifier and the padding left out of
the explanation; a longer one is explained in half-overlapping windows of the clip length, its decision track
(one line per window) is printed and written to ``<name>_decisions.csv``.
"""

import argparse
import logging
import os
import sys

from interpretability.errors import InputError
from interpretability.inference import Explainer


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--interpreter",
        required=True,
        help="interpreter folder (or the run's output folder)",
    )
    parser.add_argument(
        "--out", required=True, help="folder for the explanation files"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "files",
        nargs="+",
        help="audio files of any sample rate / channels / length",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        explainer = Explainer.from_hparams(args.interpreter, device=args.device)
        for path in args.files:
            result = explainer.explain_file(path)
            stem = os.path.splitext(os.path.basename(path))[0]
            written = explainer.save(result, args.out, stem)
            windows = result["windows"]
            span = (
                f"{len(windows)} windows, mean p" if len(windows) > 1 else "p"
            )
            print(
                f"{path}: {result['label']} ({span}={result['probability']:.3f}), mask mean "
                f"{float(result['mask'].mean()):.3f} -> {written[1]}"
            )
            if len(windows) > 1:
                for window in windows:
                    print(
                        f"  {window['start_s']:8.2f} - {window['end_s']:8.2f} s  {window['label']}  "
                        f"p={window['probability']:.3f}"
                    )
    except InputError as err:
        sys.stderr.write(f"error: {err}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
