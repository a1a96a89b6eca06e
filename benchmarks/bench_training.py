"""One L-MAC training step as a ratio to one classifier training step, on the same batch of waveforms.

Both steps start from a batch of waveforms ``[B, samples]`` and end with the optimiser's step, as in the recipes:

- classifier step (``ClassifierBrain``): random gain and shift (``augment_waveforms``), STFT, forward, cross-entropy
  with label smoothing, backward through the classifier, Adam step;
- L-MAC step (``LMACBrain``, no contaminant mixing): STFT and the frozen classifier's forward with its hidden maps
  (``ClipView``), the decoder's mask, the L-MAC objective (:func:`~interpretability.interpreters.lmac.lmac_objective`:
  two more classifier passes, on the masked-in and masked-out input), backward through the decoder (and through
  the frozen classifier to reach it), Adam step on the decoder.

The two alternate ``--repeats`` times (after a warm-up of each) so that a change of machine load hits both; time is
this process's CPU time with ``--threads`` (1 by default); ``ratio`` = median L-MAC step / median classifier step.
Models at their recipe sizes (``classifier_cnn6.yaml``, ``lmac_cnn6.yaml``), randomly initialised: the cost does
not depend on the weights.

    .venv/bin/python benchmarks/bench_training.py --batch_size 16 --clip_seconds 5

Writes ``benchmarks/results/training.json`` and prints a one-line table.
"""

import argparse
import os
import platform
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from interpretability.brains.classifier import augment_waveforms  # noqa: E402
from interpretability.brains.interpreter import ClipView  # noqa: E402
from interpretability.classifiers.base import (  # noqa: E402
    build_classifier,
    count_parameters,
)
from interpretability.interpreters.lmac import (  # noqa: E402
    LMACDecoder,
    lmac_objective,
)
from interpretability.results import atomic_write_json  # noqa: E402
from interpretability.spectral import magnitude_phase  # noqa: E402

RESULTS = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "results", "training.json"
)
DECODER_WIDTH = {"compact_cnn": 64, "cnn14": 128}  # lmac_*.yaml


def steps(architecture, batch_size, clip_seconds, n_classes=50, seed=0):
    """``(classifier_step, lmac_step, sizes)``: two functions of no argument, each one training step."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    wavs = 0.1 * torch.randn(
        batch_size, int(clip_seconds * 16000), generator=generator
    )
    labels = torch.randint(0, n_classes, (batch_size,), generator=generator)

    trained = build_classifier(architecture, n_classes).train()
    classifier_optimiser = torch.optim.Adam(
        trained.parameters(), lr=1e-3, weight_decay=1e-4
    )

    def classifier_step():
        magnitude, _ = magnitude_phase(augment_waveforms(wavs))
        loss = F.cross_entropy(trained(magnitude), labels, label_smoothing=0.05)
        classifier_optimiser.zero_grad()
        loss.backward()
        classifier_optimiser.step()

    frozen = (
        build_classifier(architecture, n_classes).eval().requires_grad_(False)
    )
    with torch.no_grad():
        _, hidden = frozen.forward_with_hidden(magnitude_phase(wavs[:1])[0])
    decoder = LMACDecoder(
        {name: int(h.shape[1]) for name, h in hidden.items()},
        width=DECODER_WIDTH[architecture],
    ).train()
    decoder_optimiser = torch.optim.Adam(decoder.parameters(), lr=1e-3)

    def lmac_step():
        view = ClipView(wavs, frozen)
        mask = decoder.mask(view.hidden, view.n_frames, classes=view.decision)
        loss, _ = lmac_objective(frozen, view.magnitude, mask, view.decision)
        decoder_optimiser.zero_grad()
        loss.backward()
        decoder_optimiser.step()

    sizes = {
        "classifier_parameters": count_parameters(trained),
        "decoder_parameters": count_parameters(decoder),
    }
    return classifier_step, lmac_step, sizes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--architecture", default="compact_cnn", choices=sorted(DECODER_WIDTH)
    )
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--clip_seconds", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    classifier_step, lmac_step, sizes = steps(
        args.architecture, args.batch_size, args.clip_seconds
    )
    classifier_step()
    lmac_step()  # warm-up: allocator, kernels
    times = {"classifier_step_s": [], "lmac_step_s": []}
    for _ in range(args.repeats):
        for key, step in (
            ("classifier_step_s", classifier_step),
            ("lmac_step_s", lmac_step),
        ):
            started = time.process_time()
            step()
            times[key].append(time.process_time() - started)
    medians = {key: statistics.median(values) for key, values in times.items()}
    result = {
        "benchmark": "training",
        "architecture": args.architecture,
        "batch_size": args.batch_size,
        "clip_seconds": args.clip_seconds,
        "repeats": args.repeats,
        "threads": args.threads,
        **sizes,
        **{key: round(value, 4) for key, value in medians.items()},
        "ratio": round(
            medians["lmac_step_s"] / medians["classifier_step_s"], 3
        ),
        "times": {
            key: [round(v, 4) for v in values] for key, values in times.items()
        },
        "clock": "process CPU time",
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "torch": torch.__version__,
    }
    atomic_write_json(args.out, result)
    print(
        f"{'classifier':<14}{'batch':>6}{'clip s':>8}{'classifier step s':>19}{'L-MAC step s':>14}{'ratio':>7}"
    )
    print(
        f"{args.architecture:<14}{args.batch_size:>6}{args.clip_seconds:>8.1f}{medians['classifier_step_s']:>19.3f}"
        f"{medians['lmac_step_s']:>14.3f}{result['ratio']:>7.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
