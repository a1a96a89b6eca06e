"""AND activation capture: throughput with forward hooks on the dissected layers, as a ratio to a plain forward pass.

For each classifier (the compact CNN and CNN14 at their recipe sizes, randomly initialised: the cost does not
depend on the weights), the same batches of magnitude spectrograms go through (a) the plain forward pass and (b)
:func:`~interpretability.dissection.activations.capture_activations` on the layers the recipes dissect (every
interpretable layer and the head, pooled per neuron), in the same process, alternating (a) and (b) ``--repeats``
times so that a change of machine load hits both. ``overhead`` = fastest capture time / fastest forward time - 1
(the fastest run is the least disturbed by other processes; the medians are reported too); the goal is
an overhead under 10 %.

    .venv/bin/python benchmarks/bench_activations.py --architectures compact_cnn cnn14 --batch_size 16

Writes ``benchmarks/results/activations.json`` and prints a markdown table.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from interpretability.classifiers.base import (  # noqa: E402
    build_classifier,
    count_parameters,
)
from interpretability.dissection.activations import (
    capture_activations,  # noqa: E402
)
from interpretability.dissection.pipeline import default_layers  # noqa: E402
from interpretability.results import atomic_write_json  # noqa: E402
from interpretability.spectral import magnitude_phase  # noqa: E402

RESULTS = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "results", "activations.json"
)


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def measure(
    architecture,
    n_batches,
    batch_size,
    clip_seconds,
    pooling,
    repeats,
    device,
    seed=0,
):
    """``{forward_s, capture_s, overhead, clips_per_s_*}`` for one classifier (fastest of ``repeats``; medians too)."""
    torch.manual_seed(seed)
    model = build_classifier(architecture, 50).to(device).eval()
    layers = default_layers(model)
    generator = torch.Generator().manual_seed(seed)
    batches = [
        (
            list(range(b * batch_size, (b + 1) * batch_size)),
            magnitude_phase(
                0.1
                * torch.randn(
                    batch_size, int(clip_seconds * 16000), generator=generator
                )
            )[0].to(device),
        )
        for b in range(n_batches)
    ]

    def forward():
        with torch.no_grad():
            for _, magnitude in batches:
                model(magnitude)

    def capture():
        return capture_activations(
            model,
            layers,
            batches,
            pooling=pooling,
            device=device,
            progress=False,
        )

    forward()  # warm-up (allocator, kernels)
    widths = capture().widths()
    forward_times, capture_times = [], []
    for _ in range(repeats):
        for function, times in (
            (forward, forward_times),
            (capture, capture_times),
        ):
            _sync(device)
            started = time.perf_counter()
            function()
            _sync(device)
            times.append(time.perf_counter() - started)
    forward_s, capture_s = min(forward_times), min(capture_times)
    clips = n_batches * batch_size
    return {
        "architecture": architecture,
        "parameters": count_parameters(model),
        "layers": widths,
        "clips": clips,
        "clip_seconds": clip_seconds,
        "pooling": pooling,
        "repeats": repeats,
        "forward_s": forward_s,
        "capture_s": capture_s,
        "overhead": capture_s / forward_s - 1.0,
        "median_forward_s": statistics.median(forward_times),
        "median_capture_s": statistics.median(capture_times),
        "median_overhead": statistics.median(capture_times)
        / statistics.median(forward_times)
        - 1.0,
        "clips_per_s_forward": clips / forward_s,
        "clips_per_s_capture": clips / capture_s,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--architectures", nargs="+", default=["compact_cnn", "cnn14"]
    )
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--n_batches", type=int, default=4)
    parser.add_argument("--clip_seconds", type=float, default=5.0)
    parser.add_argument("--pooling", default="mean", choices=["mean", "max"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--device", default="cuda" if torch.cuda.is_available() else "cpu"
    )
    parser.add_argument("--output", default=RESULTS)
    args = parser.parse_args(argv)
    rows = [
        measure(
            a,
            args.n_batches,
            args.batch_size,
            args.clip_seconds,
            args.pooling,
            args.repeats,
            args.device,
        )
        for a in args.architectures
    ]
    report = {
        "device": args.device,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "results": rows,
    }
    atomic_write_json(args.output, report)
    print(
        f"device {args.device}, {torch.get_num_threads()} threads; {args.n_batches} batches of {args.batch_size} "
        f"x {args.clip_seconds:g} s clips, {args.pooling} pooling, fastest of {args.repeats}"
    )
    print(
        "| classifier | layers hooked | forward (clips/s) | with capture (clips/s) | overhead | median overhead |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['architecture']} | {len(r['layers'])} | {r['clips_per_s_forward']:.1f} | "
            f"{r['clips_per_s_capture']:.1f} | {100 * r['overhead']:+.1f} % | {100 * r['median_overhead']:+.1f} % |"
        )
    print(
        json.dumps({r["architecture"]: round(r["overhead"], 4) for r in rows})
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
