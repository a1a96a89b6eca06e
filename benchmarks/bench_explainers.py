"""Explanations per second of every method, as a ratio to one classifier forward pass, and peak memory.

For each classifier (the compact CNN and CNN14 at their recipe sizes, randomly initialised: the cost does not
depend on the weights) and one batch of clips, every method is timed from the magnitude spectrogram to the mask,
including the forward pass that gives the decision (L-MAC / L2I: ``forward_with_hidden`` + the interpreter; the
gradient baselines: the forward + captum's attribution), against one plain forward pass of the classifier on the
same batch, in the same process. Time is the process's CPU time on CPU (``--threads`` 1 by default, so that the
ratios hold on a machine shared with other jobs) and synchronised wall time on CUDA.
``ratio`` = method time / forward time (median of ``--repeats``); goals of
the project: L-MAC <= 2 x a forward pass and >= 20 x faster than Integrated Gradients and SmoothGrad.

Peak memory: each method runs again in a fresh process after the setup and one forward pass; on CUDA ``peak_mb``
is ``torch.cuda.max_memory_allocated`` during the method, on CPU the largest resident memory sampled while it runs
(every 0.5 ms from ``/proc/self/statm``); ``extra_mb`` is that peak minus the memory held just before.

    .venv/bin/python benchmarks/bench_explainers.py --architectures compact_cnn cnn14 --batch_size 4

Settings of the baselines default to the evaluate_*.yaml hparams (IG 50 steps, SmoothGrad and GradientShap 25
samples). Writes ``benchmarks/results/explainers.json`` and prints a markdown table.
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from interpretability.classifiers.base import (  # noqa: E402
    build_classifier,
    count_parameters,
)
from interpretability.evaluation.explainers import (
    TrainedExplainer,  # noqa: E402
)
from interpretability.interpreters.gradient import (  # noqa: E402
    BASELINES,
    GradientExplainer,
)
from interpretability.interpreters.l2i import (  # noqa: E402
    L2IInterpreter,
    L2IPsi,
    L2ITheta,
)
from interpretability.interpreters.lmac import LMACDecoder  # noqa: E402
from interpretability.results import atomic_write_json  # noqa: E402
from interpretability.spectral import magnitude_phase  # noqa: E402

RESULTS = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "results", "explainers.json"
)
# recipe sizes: hparams/classifier_*.yaml, lmac_*.yaml (decoder_width), l2i_cnn6.yaml (psi_width, K = 100)
DECODER_WIDTH = {"compact_cnn": 64, "cnn14": 128}
INTERNAL_BATCH_SIZE = {
    "compact_cnn": 64,
    "cnn14": 16,
}  # hparams/evaluate_*.yaml
METHODS = ("lmac", "l2i", *BASELINES)


def setup(architecture, batch_size, clip_seconds, device, seed=0):
    """Classifier, interpreters and the batch's magnitude ``[B, T, F]`` on ``device``."""
    torch.manual_seed(seed)
    classifier = (
        build_classifier(architecture, 50)
        .to(device)
        .eval()
        .requires_grad_(False)
    )
    wavs = 0.1 * torch.randn(
        batch_size,
        int(clip_seconds * 16000),
        generator=torch.Generator().manual_seed(seed),
    )
    magnitude = magnitude_phase(wavs.to(device))[0]
    with torch.no_grad():
        _, hidden = classifier.forward_with_hidden(magnitude[:1])
    channels = {name: int(h.shape[1]) for name, h in hidden.items()}
    decoder = LMACDecoder(channels, width=DECODER_WIDTH[architecture]).to(
        device
    )
    interpreter = L2IInterpreter(
        L2IPsi(channels, 100, width=128),
        L2ITheta(100, 50),
        torch.rand(magnitude.shape[-1], 100),
    ).to(device)
    return classifier, decoder, interpreter, wavs.to(device), magnitude


def explain_function(method, classifier, decoder, interpreter, wavs, settings):
    """A function of the magnitude that computes the decision and the method's mask."""
    if method in ("lmac", "l2i"):
        explainer = TrainedExplainer(
            decoder if method == "lmac" else interpreter
        )

        def run(magnitude):
            with torch.no_grad():
                logits, hidden = classifier.forward_with_hidden(magnitude)
                rows = _Rows(magnitude, logits.argmax(dim=-1), hidden)
                return explainer.explain(rows)

        return run
    explainer = GradientExplainer(classifier, method, **settings)

    def run(magnitude):
        with torch.no_grad():
            decision = classifier(magnitude).argmax(dim=-1)
        return explainer.explain(_Rows(magnitude, decision, None))

    return run


class _Rows:
    """The part of a ClipView the methods read."""

    def __init__(self, magnitude, decision, hidden):
        self.magnitude, self.decision, self.hidden = magnitude, decision, hidden
        self.n_frames = magnitude.shape[1]


def _sync(device):
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def median_seconds(function, magnitude, repeats, device):
    """Median over ``repeats`` (after a warm-up) of the CPU time of this process (on CPU: what the method computes,
    whatever else the machine runs) or of the wall time (CUDA, synchronised)."""
    clock = (
        time.perf_counter
        if str(device).startswith("cuda")
        else time.process_time
    )
    function(magnitude)  # warm-up
    _sync(device)
    times = []
    for _ in range(repeats):
        started = clock()
        function(magnitude)
        _sync(device)
        times.append(clock() - started)
    return statistics.median(times)


def _rss_mb():
    """Current resident memory of this process (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


def peak_rss_during(function, *args, interval_s=0.0005):
    """``(peak resident MB while function(*args) runs, resident MB before)``: a thread samples ``/proc/self/statm``
    (torch releases the GIL in its kernels, so the sampler keeps running)."""
    import threading

    before = _rss_mb()
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _rss_mb())
            time.sleep(interval_s)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        function(*args)
    finally:
        done.set()
        sampler.join()
    return max(peak[0], _rss_mb()), before


def memory_probe(args):
    """Child process: peak memory of one method (``--probe ARCH METHOD``); prints JSON."""
    architecture, method = args.probe
    classifier, decoder, interpreter, wavs, magnitude = setup(
        architecture, args.batch_size, args.clip_seconds, args.device
    )
    with torch.no_grad():
        classifier(magnitude)
    function = explain_function(
        method,
        classifier,
        decoder,
        interpreter,
        wavs,
        settings_of(args, architecture),
    )
    if str(args.device).startswith("cuda"):
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        function(magnitude)
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
        print(
            json.dumps(
                {
                    "peak_mb": peak / 2**20,
                    "extra_mb": max(0, peak - before) / 2**20,
                }
            )
        )
        return
    peak, before = peak_rss_during(function, magnitude)
    print(json.dumps({"peak_mb": peak, "extra_mb": max(0.0, peak - before)}))


def settings_of(args, architecture):
    return dict(
        smoothgrad_samples=args.smoothgrad_samples,
        ig_steps=args.ig_steps,
        shap_samples=args.shap_samples,
        internal_batch_size=args.internal_batch_size
        or INTERNAL_BATCH_SIZE[architecture],
    )


def measure_memory(args, architecture, method):
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--probe",
        architecture,
        method,
        "--batch_size",
        str(args.batch_size),
        "--clip_seconds",
        str(args.clip_seconds),
        "--device",
        args.device,
        "--threads",
        str(args.threads),
        "--ig_steps",
        str(args.ig_steps),
        "--smoothgrad_samples",
        str(args.smoothgrad_samples),
        "--shap_samples",
        str(args.shap_samples),
    ]
    if args.internal_batch_size:
        command += ["--internal_batch_size", str(args.internal_batch_size)]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=3600
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"memory probe {architecture}/{method} failed:\n{result.stderr[-2000:]}"
        )
    return json.loads(result.stdout.strip().splitlines()[-1])


def markdown(results):
    lines = [
        "| classifier | method | explanations / s | time / forward pass | peak memory (MB) | extra memory (MB) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for architecture, entry in results["classifiers"].items():
        lines.append(
            f"| {architecture} | forward pass | {entry['forward_per_second']:.1f} | 1.0 | - | - |"
        )
        for method, row in entry["methods"].items():
            peak = f"{row['peak_mb']:.0f}" if "peak_mb" in row else "-"
            extra = f"{row['extra_mb']:.0f}" if "extra_mb" in row else "-"
            lines.append(
                f"| {architecture} | {method} | {row['per_second']:.2f} | {row['ratio']:.1f} | {peak} | "
                f"{extra} |"
            )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--architectures", nargs="+", default=["compact_cnn", "cnn14"]
    )
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--batch_size", type=int, default=4)
    parser.add_argument("--clip_seconds", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--ig_steps", type=int, default=50)
    parser.add_argument("--smoothgrad_samples", type=int, default=25)
    parser.add_argument("--shap_samples", type=int, default=25)
    parser.add_argument(
        "--internal_batch_size",
        type=int,
        default=None,
        help="expanded rows per pass in IG / SmoothGrad / SHAP (default: the evaluate_*.yaml value)",
    )
    parser.add_argument(
        "--no_memory",
        action="store_true",
        help="skip the per-method memory probes",
    )
    parser.add_argument("--out", default=RESULTS)
    parser.add_argument(
        "--probe", nargs=2, metavar=("ARCH", "METHOD"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.probe:
        memory_probe(args)
        return

    results = {
        "settings": {
            **vars(args),
            "torch": torch.__version__,
            "machine": platform.processor() or platform.machine(),
        },
        "classifiers": {},
    }
    results["settings"].pop("probe")
    for architecture in args.architectures:
        classifier, decoder, interpreter, wavs, magnitude = setup(
            architecture, args.batch_size, args.clip_seconds, args.device
        )

        def forward(m, classifier=classifier):
            with torch.no_grad():
                return classifier(m)

        forward_s = median_seconds(
            forward, magnitude, args.repeats, args.device
        )
        entry = {
            "params": count_parameters(classifier),
            "forward_s": forward_s,
            "forward_per_second": args.batch_size / forward_s,
            "methods": {},
        }
        print(
            f"{architecture}: forward {forward_s * 1000:.1f} ms for {args.batch_size} clips of "
            f"{args.clip_seconds} s",
            flush=True,
        )
        for method in args.methods:
            function = explain_function(
                method,
                classifier,
                decoder,
                interpreter,
                wavs,
                settings_of(args, architecture),
            )
            seconds = median_seconds(
                function, magnitude, args.repeats, args.device
            )
            row = {
                "seconds": seconds,
                "per_second": args.batch_size / seconds,
                "ratio": seconds / forward_s,
            }
            if not args.no_memory:
                row.update(measure_memory(args, architecture, method))
            entry["methods"][method] = row
            print(
                f"  {method:<22} {seconds * 1000:10.1f} ms  x{row['ratio']:.1f}",
                flush=True,
            )
        methods = entry["methods"]
        if "lmac" in methods:
            entry["lmac_ratio"] = methods["lmac"]["ratio"]
            entry["lmac_speedup"] = {
                m: methods[m]["seconds"] / methods["lmac"]["seconds"]
                for m in ("integrated_gradients", "smoothgrad")
                if m in methods
            }
        results["classifiers"][architecture] = entry
    atomic_write_json(args.out, results)
    print(markdown(results))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
